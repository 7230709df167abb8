"""The two pages a person opens, in a real headless Chromium (``make test-browser``; skipped without Chromium).

* ``colorize --serve`` with two tiny checkpoints: a photo uploaded in the browser comes back coloured by both, at
  the upload's size, each PNG downloadable; an empty file gets one line; the page fetches nothing but 127.0.0.1,
  the server does not answer on the machine's other addresses, and a stop leaves no upload or result behind.
* a real 2-job sweep's ``report.html``, opened from the disk: a row per job, charts and pictures loaded, a header
  click re-sorts the rows, and nothing is requested at all beyond the sweep dir's own files; at 1400 x 900 it does
  not scroll sideways and its Conclusion is on the first screen.
* ``scripts/browser_screenshots.py`` writes both screenshots from those runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorization.color import rgb_to_lab8
from tests.support.browser import browser_page, require_browser
from tests.support.entry_points import REPO, TINY, only_dir, read_json, run_entry

pytestmark = pytest.mark.browser

PHOTO_SIZE = (150, 100)  # width, height: not square, not the network's size
SERVER_START_S = 120  # a cold start imports torch, Gradio and the models on a loaded 2-core machine
SERVE = [sys.executable, "-m", "colorization.cli", "--serve"]  # `colorize --serve`, with this interpreter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def non_loopback_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None when it has only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def colour_photo(path: Path) -> Path:
    """A ``PHOTO_SIZE`` RGB gradient with a red disc: strong, varied colours."""
    width, height = PHOTO_SIZE
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, 255 - x * 255 // width], axis=-1).astype(np.uint8)
    rgb[(x - 40) ** 2 + (y - 50) ** 2 < 400] = (220, 30, 30)
    Image.fromarray(rgb).save(path)
    return path


def chroma(path: Path) -> float:
    """Mean chroma sqrt(a*^2 + b*^2) of an image file, in 8-bit LAB units (0 for gray)."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    ab = rgb_to_lab8(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[1:].astype(np.float64) - 128
    return float(np.sqrt((ab**2).sum(0)).mean())


def wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"colorize --serve exited {proc.returncode} before serving:\n{proc.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"colorize --serve did not answer on 127.0.0.1:{port} within {timeout_s} s")


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory, sample_data_dir) -> Path:
    """A real 2-job sweep (job 0 Vanilla CNN, job 1 U-Net) through ``train.py -m``, shared by this module's tests;
    its summary writes report.html."""
    cwd = tmp_path_factory.mktemp("sweep")
    run_entry("train.py", ["-m", "model=vanilla,unet_efficientnet_lite0", "logger=none", *TINY], cwd,
              sample_data_dir)
    return only_dir(cwd / "multirun")


def best_checkpoints(sweep: Path) -> list[Path]:
    return [Path(read_json(sweep / job / "job_status.json")["best_ckpt"]) for job in ("0", "1")]


@pytest.fixture
def serve(tiny_sweep, tmp_path) -> Iterator[tuple[int, subprocess.Popen]]:
    """``colorize --serve --ckpt A --ckpt B --port P`` on the sweep's two checkpoints (stopped by PID after)."""
    require_browser()  # before paying for the server
    port = free_port()
    a, b = best_checkpoints(tiny_sweep)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    cmd = [*SERVE, "--ckpt", str(a), "--ckpt", str(b), "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc, SERVER_START_S)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(420)
def test_serve_colorizes_an_upload_with_each_checkpoint(serve, tmp_path):
    require_browser()
    port, proc = serve
    photo = colour_photo(tmp_path / "photo.png")
    with browser_page() as bp:
        page = bp.page
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator("#photo input[type=file]").set_input_files(str(photo))
        for i in range(2):
            page.wait_for_selector(f"#result-{i} img", timeout=60_000)
        assert "150 × 100 px, colorized by 2 checkpoint(s)" in page.locator("#status").inner_text()
        labels = [page.locator(f"#result-{i} label").inner_text() for i in range(2)]
        assert labels[0].startswith("vanilla · l1 · seed") and labels[1].startswith("unet_efficientnet_lite0 · l1")

        for i in range(2):
            shown = page.locator(f"#result-{i} img").evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert tuple(shown) == PHOTO_SIZE
            with page.expect_download() as download:
                page.locator(f"#download-{i}").click()
            saved = tmp_path / f"download-{i}.png"
            download.value.save_as(saved)
            assert download.value.suggested_filename.startswith("photo_") and saved.suffix == ".png"
            with Image.open(saved) as out:
                assert (out.format, out.size, out.mode) == ("PNG", PHOTO_SIZE, "RGB")
            # A gray rendering has chroma ~0; even a 2-epoch network puts colour in.
            assert chroma(saved) > 2.0, f"result {i} is nearly gray: chroma {chroma(saved):.2f}"
        assert bp.network_requests() == [], f"the page reached outside 127.0.0.1: {bp.network_requests()}"

        # A file that is not a picture: one line on the page, naming the upload, no server path.
        empty = tmp_path / "empty.png"
        empty.write_bytes(b"")
        page.goto(f"http://127.0.0.1:{port}/")  # a fresh upload box
        page.locator("#photo input[type=file]").set_input_files(str(empty))
        toast = page.get_by_text("empty.png: the file is empty")
        toast.wait_for(timeout=30_000)
        assert "/gradio/" not in toast.inner_text() and str(tmp_path) not in toast.inner_text()

    # Bound to 127.0.0.1 by default: the machine's other address refuses the connection.
    address = non_loopback_address()
    if address is not None:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=3).close()
    assert proc.poll() is None, "the server stopped while serving"
    # A clean stop removes every upload and result: nothing is left under the server's GRADIO_TEMP_DIR.
    proc.terminate()
    _, log = proc.communicate(timeout=30)
    left = [p for p in (tmp_path / "gradio").rglob("*") if p.is_file()]
    assert left == [], f"files left after the server stopped: {left}"
    assert log.count("upload refused: empty.png: the file is empty") == 1 and "Traceback" not in log, log[-3000:]


PICTURES = "section#images figure.prediction img"


def _images_loaded(page, selector: str) -> list[bool]:
    return page.locator(selector).evaluate_all("els => els.map(e => e.complete && e.naturalWidth > 0)")


@pytest.mark.timeout(420)
def test_sweep_report_opens_offline_sorted_and_complete(tiny_sweep, tmp_path):
    require_browser()
    report = tiny_sweep / "report.html"
    assert report.is_file(), f"the sweep summary wrote no {report}"
    with browser_page() as bp:
        page = bp.page
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        jobs = page.locator("table#jobs tr.job")
        assert jobs.count() == 2
        assert page.locator("table#summary tr.group").count() == 2
        charts = _images_loaded(page, "img.chart")
        assert charts and all(charts), f"charts not loaded: {charts}"
        # One test image at a time is shown; its pictures load once scrolled to (they are lazy: the page opens on
        # the tables and charts, and a big sweep's pictures load only as they are looked at).
        shown_row = "section#images .image-row:not([hidden]) figure.prediction img"
        for i in range(page.locator(shown_row).count()):
            page.locator(shown_row).nth(i).scroll_into_view_if_needed()
        page.wait_for_function("sel => Array.from(document.querySelectorAll(sel)).every(e => e.complete)",
                               arg=shown_row)
        shown = _images_loaded(page, shown_row)
        assert shown and all(shown), f"the shown test image's pictures did not load: {shown}"
        page.locator("#show-all").check()
        pictures = page.locator(PICTURES)
        for i in range(pictures.count()):
            pictures.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("sel => Array.from(document.querySelectorAll(sel)).every(e => e.complete)", arg=PICTURES)
        loaded = _images_loaded(page, PICTURES)
        assert len(loaded) >= 2 and all(loaded), f"test pictures not loaded: {loaded}"
        assert page.locator("section#images figure.prediction[data-job='0']").count() >= 1
        assert page.locator("section#images figure.prediction[data-job='1']").count() >= 1

        # Clicking a header sorts by it; clicking it again reverses the order.
        header = page.locator("table#jobs th.sortable").first
        before = [jobs.nth(i).evaluate("r => r.cells[0].textContent.trim()") for i in range(2)]
        header.click()
        first = [jobs.nth(i).evaluate("r => r.cells[0].textContent.trim()") for i in range(2)]
        header.click()
        second = [jobs.nth(i).evaluate("r => r.cells[0].textContent.trim()") for i in range(2)]
        assert sorted(first) == sorted(before) and second == first[::-1] and first != second
        bp.screenshot(tmp_path / "report.png")
        assert bp.network_requests() == [], f"report.html reached the network: {bp.network_requests()}"
        outside = [u for u in bp.requests if u.startswith("file://") and not u.startswith(tiny_sweep.as_uri())]
        assert outside == [], f"report.html read files outside its sweep dir: {outside}"


@pytest.mark.timeout(420)
def test_sweep_report_fits_a_1400_px_window_with_its_conclusion_on_the_first_screen(tiny_sweep):
    require_browser()
    with browser_page(width=1400, height=900) as bp:
        page = bp.page
        page.goto((tiny_sweep / "report.html").as_uri())
        page.wait_for_load_state("load")
        scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll[0] <= scroll[1], f"the page scrolls sideways: {scroll[0]} px wide in a {scroll[1]} px window"
        box = page.locator("section#conclusion").bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900, box
        text = page.locator("section#conclusion").inner_text()
        assert "PSNR ↑: best " in text and "Caution: one seed per configuration" in text
        # The group table, the answer (differences and verdicts) at its right, fits: nothing scrolls sideways in it.
        table = page.locator("table#summary").evaluate("t => [t.scrollWidth, t.parentElement.clientWidth]")
        assert table[0] <= table[1], f"the models table is {table[0]} px wide in a {table[1]} px box"


@pytest.mark.timeout(420)
def test_screenshot_script_writes_both_pictures(tiny_sweep, tmp_path):
    require_browser()
    out = tmp_path / "docs"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "browser_screenshots.py"), "--sweep",
                           str(tiny_sweep), "--out", str(out)], capture_output=True, text=True, timeout=360,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(tmp_path / "gradio")})
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name, min_height in (("report.png", 1000), ("serve.png", 600)):
        with Image.open(out / name) as shot:
            assert shot.format == "PNG" and shot.size[0] == 1280 and shot.size[1] >= min_height, (name, shot.size)
            # A page, not a blank: many distinct colours.
            assert len(shot.convert("RGB").getcolors(1 << 24)) > 100, f"{name} looks blank"
