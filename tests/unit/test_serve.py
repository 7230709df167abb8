"""``colorize --serve`` without a browser: which checkpoints it serves and their labels, the errors that stop it
before serving, and the colorization behind the page (upload file in, one full-size PNG per model out)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorization.inference.colorizer import Colorizer
from colorization.runs.status import JobStatus
from colorization.serve.app import main
from colorization.serve.models import ServedCheckpoint, plan_checkpoints, status_label, sweep_checkpoints
from colorization.serve.page import colorize_upload, file_slug


class ConstantAB(torch.nn.Module):
    """A stand-in network: every pixel gets the same normalised ``ab`` (a reddish-yellow)."""

    def colorize_normalized(self, L: torch.Tensor) -> torch.Tensor:  # noqa: N803
        ab = torch.tensor([0.3, 0.25]).view(1, 2, 1, 1)
        return ab.expand(L.shape[0], 2, *L.shape[-2:]).clone()


def _job(sweep: Path, name: str, status: str, model: str, seed: int, ckpt: str | None, make_ckpt: bool = True):
    job = sweep / name
    (job / "checkpoints").mkdir(parents=True)
    st = {"status": status, "model": model, "loss": "l1", "overrides": [f"model={model}", f"seed={seed}"]}
    if ckpt:
        st["best_ckpt"] = ckpt
        if make_ckpt:
            (job / "checkpoints" / Path(ckpt).name).write_bytes(b"x")
    (job / "job_status.json").write_text(json.dumps(st))


def test_sweep_serves_ok_jobs_with_a_checkpoint_labelled_by_model_loss_seed(tmp_path):
    sweep = tmp_path / "sweep"
    # job 0: ok, its status names a path from another machine (the sweep dir was moved); job 1 failed;
    # job 2: ok, checkpoint where it says; job 3: ok but its checkpoint is gone.
    _job(sweep, "0", "ok", "vanilla", 1, "/elsewhere/multirun/x/0/checkpoints/epoch_003.ckpt")
    _job(sweep, "1", "failed", "unet", 1, None)
    _job(sweep, "2", "ok", "unet", 2, str(sweep / "2" / "checkpoints" / "epoch_001.ckpt"))
    _job(sweep, "3", "ok", "unet", 3, str(sweep / "3" / "checkpoints" / "epoch_001.ckpt"), make_ckpt=False)
    found = sweep_checkpoints(sweep)
    assert [(f.label, f.ckpt) for f in found] == [
        ("job 0: vanilla · l1 · seed 1", sweep / "0" / "checkpoints" / "epoch_003.ckpt"),
        ("job 2: unet · l1 · seed 2", sweep / "2" / "checkpoints" / "epoch_001.ckpt"),
    ]
    assert status_label(JobStatus("ok", model="vanilla", seed=0)) == "vanilla · seed 0"


def test_nothing_to_serve_is_one_sentence_before_loading(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    _job(sweep, "0", "failed", "vanilla", 1, None)
    with pytest.raises(ValueError, match="no job finished ok with a best checkpoint"):
        plan_checkpoints([], sweep)
    assert main(["--sweep", str(sweep)]) == 2
    assert "no job finished ok" in capsys.readouterr().err
    assert main(["--sweep", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2 and "pass --ckpt" in capsys.readouterr().err


def test_bad_checkpoint_fails_before_serving_with_the_loaders_sentence(tmp_path, capsys):
    assert main(["--ckpt", str(tmp_path / "nope.ckpt"), "--port", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: cannot load the checkpoint: checkpoint {tmp_path / 'nope.ckpt'} does not exist; pass " \
                  "the path train.py printed"


def test_without_gradio_it_names_the_extra_to_install(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert main(["--ckpt", str(tmp_path / "a.ckpt")]) == 2
    assert "pip install 'colorization[serve]'" in capsys.readouterr().err


def test_an_upload_becomes_one_full_size_png_per_model_keeping_alpha(tmp_path):
    rgba = np.zeros((30, 45, 4), dtype=np.uint8)
    rgba[..., :3] = np.linspace(0, 255, 45, dtype=np.uint8)[None, :, None]
    rgba[..., 3] = 200
    photo = tmp_path / "old photo.png"
    Image.fromarray(rgba, "RGBA").save(photo)
    colorizer = Colorizer(ConstantAB(), device="cpu", size=16)
    models = [ServedCheckpoint("job 0: vanilla · l1", Path("a.ckpt"), colorizer),
              ServedCheckpoint("job 1: unet · l1", Path("b.ckpt"), colorizer)]
    size, pngs = colorize_upload(photo, models, tmp_path)
    assert size == (45, 30)
    assert [p.name for p in pngs] == ["old_photo_job_0_vanilla_l1.png", "old_photo_job_1_unet_l1.png"]
    for png in pngs:
        with Image.open(png) as out:
            assert (out.format, out.size, out.mode) == ("PNG", (45, 30), "RGBA")
            pixels = np.asarray(out)
        assert (pixels[..., 3] == 200).all()
        mid = pixels[15, 22, :3].astype(int)
        assert mid[0] > mid[2] + 20, f"a reddish-yellow ab should make red > blue, got {mid}"
    assert file_slug("...") == "image"


def _png(path: Path, width: int, height: int) -> Path:
    Image.new("RGB", (width, height), (120, 60, 30)).save(path)
    return path


def _bomb(path: Path, width: int, height: int) -> Path:
    """A few hundred bytes of PNG whose header claims ``width`` x ``height`` pixels (all zero, deflated)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
                     + chunk(b"IEND", b""))
    return path


def test_bad_uploads_are_refused_in_one_line_naming_the_upload_not_the_server_folder(tmp_path):
    from colorization.serve.page import UploadRefused, check_upload

    folder = tmp_path / "gradio" / "0123abcd"
    folder.mkdir(parents=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not a picture")
    cases = {
        folder / "empty.png": "empty.png: the file is empty; drop a photo (PNG, JPEG, WebP, TIFF, ...)",
        folder / "notes.txt": "notes.txt: not an image this page can read; drop a photo (PNG, JPEG, WebP, TIFF, ...)",
        _png(folder / "big.png", 40, 30): "big.png: 40 × 30 px is more than this page's limit of 1,000 pixels; "
                                          "scale it down, or start the page with a higher --max-pixels",
        # Past Pillow's own ceiling (2 x 89.5 Mpx): refused from the header, never decoded.
        _bomb(folder / "bomb.png", 20000, 20000): "bomb.png: more pixels than this page's limit of 1,000 (a "
                                                  "decompression bomb?); scale it down",
    }
    for path, message in cases.items():
        with pytest.raises(UploadRefused) as refused:
            check_upload(path, max_pixels=1000)
        assert str(refused.value) == message and str(tmp_path) not in str(refused.value)
    assert check_upload(_png(folder / "ok.png", 40, 25), max_pixels=1000) == (40, 25)

    # Within the limit but damaged: refused when decoded, still in the upload's own name.
    data = (folder / "ok.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UploadRefused, match=r"^cut\.png: the picture is damaged or truncated"):
        colorize_upload(folder / "cut.png", [], tmp_path, max_pixels=1000)


def test_max_pixels_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--ckpt", "a.ckpt", "--max-pixels", "0"])
    assert exit_info.value.code == 2 and "--max-pixels 0: expected a positive number" in capsys.readouterr().err
