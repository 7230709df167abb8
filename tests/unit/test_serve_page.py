"""The ``colorize --serve`` page through its HTTP API (gradio_client, in-process server, a stand-in network): a
photo comes back coloured; an empty file, a non-image and a decompression bomb each get their one line, with no
server path in it, one warning line in the log and no traceback."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from PIL import Image

from colorization.inference.colorizer import Colorizer
from colorization.serve.models import ServedCheckpoint
from tests.unit.test_serve import ConstantAB, _bomb

pytestmark = pytest.mark.slow  # Gradio's import and server start: ~15 s on 2 loaded cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def page_url(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    from colorization.serve.page import build_page

    models = [ServedCheckpoint("job 0: vanilla · l1", Path("a.ckpt"), Colorizer(ConstantAB(), device="cpu", size=16))]
    (tmp_path / "results").mkdir()
    page = build_page(models, tmp_path / "results", max_pixels=10_000)
    page.queue(default_concurrency_limit=1)
    port = _free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, share=False, inbrowser=False,
                ssr_mode=False, show_error=True, enable_monitoring=False, mcp_server=False, pwa=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        page.close()


def test_bad_uploads_get_one_line_each_through_the_http_api(page_url, tmp_path, caplog, capsys):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(page_url, verbose=False)
    photo = tmp_path / "uploads" / "photo.png"
    photo.parent.mkdir()
    Image.new("RGB", (60, 40), (90, 90, 90)).save(photo)
    status, result, _ = client.predict(handle_file(str(photo)), api_name="/colorize")
    assert status.startswith("60 × 40 px, colorized by 1 checkpoint(s)")
    with Image.open(result) as out:
        assert out.size == (60, 40)

    (photo.parent / "empty.png").write_bytes(b"")
    (photo.parent / "notes.txt").write_text("not a picture")
    bad = {"empty.png": "empty.png: the file is empty; drop a photo",
           "notes.txt": "notes.txt: not an image this page can read",
           "bomb.png": "bomb.png: more pixels than this page's limit of 10,000 (a decompression bomb?)",
           "tall.png": "tall.png: 200 × 100 px is more than this page's limit of 10,000 pixels"}
    _bomb(photo.parent / "bomb.png", 20000, 20000)
    Image.new("RGB", (200, 100)).save(photo.parent / "tall.png")
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="colorization.serve.page"):
        for name, message in bad.items():
            with pytest.raises(AppError) as refused:
                client.predict(handle_file(str(photo.parent / name)), api_name="/colorize")
            text = str(refused.value)
            assert text.startswith(message) and "\n" not in text and "/gradio/" not in text and str(tmp_path) \
                not in text, text
    warnings = [r.getMessage() for r in caplog.records if r.name == "colorization.serve.page"]
    assert len(warnings) == len(bad) and all(w.startswith("upload refused: ") for w in warnings)
    logged = capsys.readouterr()
    assert "Traceback" not in logged.out + logged.err and "Could not preprocess" not in logged.out + logged.err
