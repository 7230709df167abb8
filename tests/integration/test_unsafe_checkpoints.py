"""A checkpoint is data, never code: a file carrying a pickle payload is refused by every loader, in one line, and
the payload never runs.

The payload is real: one extra entry of an otherwise valid checkpoint whose ``__reduce__`` opens (creates) a marker
file when unpickled. An unsafe ``torch.load`` creates the marker (checked first); each of the project's loaders must
refuse the file without creating it: colorize, eval (test split and whole photos), train's resume check, the ONNX
export and ``colorize --serve``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from colorization.errors import ConfigError
from colorization.io.checkpoints import CODE_WARNING
from tests.support.checkpoints import save_checkpoint, tiny_module
from tests.support.entry_points import TINY
from tests.support.in_process import run_in_process, train_in_process


class Payload:
    """Unpickled, it calls ``open(marker, "w")``: the file appears (and could as well be any shell command)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture
def evil(tmp_path) -> tuple[Path, Path]:
    """``(evil.ckpt, marker)``: a real tiny train.py checkpoint plus one entry holding the payload."""
    ckpt = torch.load(save_checkpoint(tiny_module("l1"), tmp_path / "real.ckpt"), weights_only=True)
    marker = tmp_path / "payload-ran"
    ckpt["note"] = Payload(marker)
    torch.save(ckpt, tmp_path / "evil.ckpt")
    return tmp_path / "evil.ckpt", marker


def _refusal(path: Path) -> str:
    return f"{path} {CODE_WARNING}"


def test_the_payload_is_real(evil):
    path, marker = evil
    torch.load(path, weights_only=False)  # what an unsafe loader does
    assert marker.exists()


def test_colorize_refuses_it(evil, tmp_path, capsys):
    from colorization.cli import main

    path, marker = evil
    Image.new("RGB", (24, 20), (120, 90, 60)).save(tmp_path / "x.png")
    code = main([str(tmp_path / "x.png"), "--ckpt", str(path), "--out", str(tmp_path / "out"), "--size", "32"])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: cannot load the checkpoint: {_refusal(path)}\n"
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("data", ["sample", "folder"])
def test_eval_refuses_it(evil, tmp_path, data):
    from colorization.eval import evaluate_command

    path, marker = evil
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 36), (120, 90, 60)).save(photos / "a.png")
    overrides = [f"ckpt_path={path}", f"data={data}", f"data.root={photos}", "data.image_size=32", "device=cpu"]
    if data == "sample":
        overrides = overrides[:2] + ["data.sample.crops_per_photo=2", "data.image_size=32", "trainer.accelerator=cpu"]
    with pytest.raises(ConfigError) as refused:
        run_in_process("eval", evaluate_command, overrides, tmp_path / "run", tmp_path / "data")
    assert str(refused.value) == _refusal(path)
    assert not marker.exists()
    status = json.loads((tmp_path / "run" / "job_status.json").read_text())
    assert status["error"] == f"CheckpointError: {_refusal(path)}"


def test_train_refuses_to_resume_from_it(evil, tmp_path):
    path, marker = evil
    with pytest.raises(ConfigError) as refused:
        train_in_process(["model=vanilla", "logger=csv", *TINY, f"ckpt_path={path}"], tmp_path / "run",
                         tmp_path / "data")
    assert str(refused.value) == f"ckpt_path={_refusal(path)}"
    assert not marker.exists()


def test_export_refuses_it(evil, tmp_path, capsys):
    from colorization.__main__ import main

    path, marker = evil
    code = main(["export", "--ckpt", str(path), "--out", str(tmp_path / "model.onnx")])
    assert code == 2 and capsys.readouterr().err == f"error: {_refusal(path)}\n"
    assert not marker.exists() and not (tmp_path / "model.onnx").exists()


def test_serve_refuses_it_before_serving(evil, capsys):
    pytest.importorskip("gradio")
    from colorization.cli import main

    path, marker = evil
    code = main(["--serve", "--ckpt", str(path), "--port", "1"])  # never reached: the load comes first
    assert code == 2 and capsys.readouterr().err == f"error: cannot load the checkpoint: {_refusal(path)}\n"
    assert not marker.exists()
