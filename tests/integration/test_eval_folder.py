"""``python eval.py data=folder data.root=DIR ckpt_path=...``: every photo whole, at full resolution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from colorization.color import render_normalized, rgb_to_lab8
from colorization.eval import evaluate_folder
from colorization.metrics import METRIC_KEYS, ab_auc, colorfulness
from colorization.training.module import ColorizationModule

REPO = Path(__file__).resolve().parents[2]
OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
# Odd, non-square sizes: whole photos, never crops or squares.
PHOTO_SIZES = {"skimage_astronaut": (45, 61), "skimage_coffee": (52, 37)}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A tiny vanilla l1 checkpoint whose head is biased towards a colour, so prediction != gray."""
    torch.manual_seed(0)
    module = ColorizationModule(model={"name": "vanilla", "widths": [8, 16, 32, 64]}, loss={"name": "l1"},
                                optimizer=OPTIMIZER)
    with torch.no_grad():
        module.net.head.bias.copy_(torch.tensor([0.15, 0.1]))
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", max_epochs=0)
    trainer.strategy.connect(module)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def photo_dir(real_photos, tmp_path_factory) -> Path:
    """Two colour photos (one in a subfolder, one JPEG), one grayscale photo and one corrupt file."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    for (name, (h, w)), rel in zip(PHOTO_SIZES.items(), ["a.png", "sub/b.jpg"], strict=True):
        Image.fromarray(real_photos[name]).resize((w, h), Image.Resampling.BICUBIC).save(root / rel, quality=95)
    gray = Image.fromarray(real_photos["skimage_chelsea"]).convert("L").resize((40, 40))
    gray.save(root / "gray.png")
    (root / "broken.jpg").write_bytes(b"not an image at all")
    return root


def _run_eval(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLORIZATION_HOME": str(home), "WANDB_MODE": "offline"}
    return subprocess.run([sys.executable, str(REPO / "eval.py"), *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=300)


def _gray_baseline(rgb: np.ndarray) -> dict[str, float]:
    """Metrics of a = b = 0 against the photo, computed here by hand at the photo's full size."""
    lab8 = rgb_to_lab8(torch.from_numpy(rgb).permute(2, 0, 1))[None].float()
    L_, ab = lab8[:, :1] * (2 / 255) - 1, (lab8[:, 1:] - 128) / 128
    true = render_normalized(L_, ab, dtype=torch.float32)
    gray = render_normalized(L_, torch.zeros_like(ab), dtype=torch.float32)
    mse = (true - gray).square().mean()
    return {"psnr": float(10 * torch.log10(1 / mse)), "cf": float(colorfulness(gray)[0]),
            "cf_true": float(colorfulness(true)[0]), "auc": float(ab_auc(torch.zeros_like(ab), ab)[0])}


@pytest.fixture(scope="module")
def folder_run(ckpt, photo_dir, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    home = tmp_path_factory.mktemp("home")
    run_dir = home / "run"
    proc = _run_eval(["data=folder", f"data.root={photo_dir}", f"ckpt_path={ckpt}", "size=32", "device=cpu",
                      "save_images=true", f"hydra.run.dir={run_dir}"], home)
    return proc, run_dir


def test_folder_eval_writes_metrics_and_counts(folder_run):
    proc, run_dir = folder_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {f"test/{k}" for k in METRIC_KEYS} <= set(metrics)
    assert all(np.isfinite(metrics[f"test/{k}"]) for k in METRIC_KEYS)
    assert metrics["images"] == 2 and metrics["skipped_grayscale"] == 1 and metrics["skipped_unreadable"] == 1
    assert metrics["size"] == 32
    # The biased head colours the photos: the prediction is not the gray baseline.
    assert metrics["test/psnr"] != pytest.approx(metrics["test/psnr_gray"], abs=1e-3)
    status = json.loads((run_dir / "job_status.json").read_text())
    assert status["status"] == "ok" and any(f.endswith("broken.jpg") for f in status["unreadable_files"])


def test_folder_gray_baseline_equals_direct_computation(folder_run, photo_dir):
    proc, run_dir = folder_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    photos = [np.array(Image.open(photo_dir / rel).convert("RGB")) for rel in ("a.png", "sub/b.jpg")]
    assert [p.shape[:2] for p in photos] == list(PHOTO_SIZES.values())
    direct = [_gray_baseline(p) for p in photos]
    mean = {k: float(np.mean([d[k] for d in direct])) for k in direct[0]}
    assert metrics["test/psnr_gray"] == pytest.approx(mean["psnr"], abs=1e-3)
    assert metrics["test/cf_gray"] == pytest.approx(mean["cf"], abs=1e-3)
    assert metrics["test/cf_true"] == pytest.approx(mean["cf_true"], abs=1e-3)
    assert metrics["test/dcf_gray"] == pytest.approx(abs(mean["cf"] - mean["cf_true"]), abs=1e-3)
    assert metrics["test/auc_gray"] == pytest.approx(mean["auc"], abs=1e-5)


def test_folder_save_images_full_size_with_true_lightness(folder_run, photo_dir):
    proc, run_dir = folder_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = run_dir / "colorized"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["a.png", "sub/b.png"]
    for rel, src in (("a.png", "a.png"), ("sub/b.png", "sub/b.jpg")):
        colour = np.array(Image.open(out / rel).convert("RGB"))
        photo = np.array(Image.open(photo_dir / src).convert("RGB"))
        assert colour.shape == photo.shape  # full size, not the network's 32x32
        l_out = rgb_to_lab8(torch.from_numpy(colour).permute(2, 0, 1))[0].int()
        l_in = rgb_to_lab8(torch.from_numpy(photo).permute(2, 0, 1))[0].int()
        assert (l_out - l_in).abs().max() <= 2  # the photo's own lightness, up to 8-bit rounding
        assert colour.astype(int).std(axis=2).mean() > 1  # coloured, not gray


def test_folder_without_colour_photos_says_so(ckpt, tmp_path):
    root = tmp_path / "grays"
    root.mkdir()
    Image.new("L", (32, 32), 128).save(root / "g.png")
    cfg = OmegaConf.create({"paths": {"output_dir": str(tmp_path / "run")}, "ckpt_path": str(ckpt),
                            "data": {"source": "folder", "root": str(root), "image_size": 32, "gray_tolerance": 2},
                            "size": None, "device": "cpu", "save_images": False, "metrics": {}})
    with pytest.raises(FileNotFoundError, match=r"no colour photo .* \(1 grayscale, 0 unreadable"):
        evaluate_folder(cfg)
