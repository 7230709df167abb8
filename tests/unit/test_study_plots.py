"""The study's plots: four valid PNGs of sensible size, bars and whiskers in each group's colour, the gray floor,
validation curves read from each job's CSV log (jobs without one skipped), labels naming model and encoder start."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorization.reports.labels import encoder_start, group_label, wrap_name
from colorization.reports.study_plots import group_colors, job_curves, read_val_curve, val_curves, write_study_plots


def _group(model: str, weights: str | None, psnr: float | None, jobs: str, loss: str = "l1") -> dict:
    ci = {} if psnr is None else {"psnr_ci_low": psnr - 0.4, "psnr_ci_high": psnr + 0.5}
    return {"model": model, "loss": loss, "encoder_weights": weights, "jobs": jobs, "n_seeds": 0 if psnr is None else 2,
            "psnr": psnr, **ci, "ssim": None if psnr is None else 0.9, "auc": None if psnr is None else 0.8,
            "psnr_gray": 17.0, "ssim_gray": 0.85, "auc_gray": 0.7}


GROUPS = [_group("vanilla", None, 20.0, "0 1"), _group("unet_imagenet", "imagenet:timm/resnet34.a1_in1k", 22.0, "2 3"),
          _group("resnet", "scratch", None, "4")]
JOBS = [{"job": j, "status": "failed" if j == "4" else "ok"} for j in "01234"]


def _metrics_csv(sweep: Path, job: str, val_psnr: list[float] | None) -> None:
    """A Lightning CSV log: train rows without val values, one val row per epoch (none without ``val_psnr``)."""
    path = sweep / job / "csv" / "metrics.csv"
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "step", "train/loss", *(["val/psnr"] if val_psnr is not None else [])])
        for epoch, value in enumerate(val_psnr or [18.0, 19.0]):
            w.writerow([epoch, 10 * epoch + 5, 0.3, *([""] if val_psnr is not None else [])])
            if val_psnr is not None:
                w.writerow([epoch, 10 * epoch + 9, "", value])


@pytest.fixture
def sweep(tmp_path) -> Path:
    _metrics_csv(tmp_path, "0", [18.0, 19.0, 19.5])
    _metrics_csv(tmp_path, "2", [18.5, 20.0, 21.0])
    _metrics_csv(tmp_path, "3", None)  # the CSV logger ran, validation never did: no column
    _metrics_csv(tmp_path, "4", [17.0])  # a failed job's partial log: not a finished seed's curve
    return tmp_path  # job 1: no csv/metrics.csv at all


def _pixels_near(img: Image.Image, rgba: tuple[float, ...], tol: int = 30) -> int:
    """How many pixels of ``img`` are within ``tol`` (per channel, 0..255) of the matplotlib colour ``rgba``."""
    target = np.array(rgba[:3]) * 255
    return int((np.abs(np.asarray(img.convert("RGB"), dtype=np.float64) - target).max(axis=-1) <= tol).sum())


def test_encoder_start_and_labels():
    assert encoder_start(None) == "no encoder" and encoder_start("scratch") == "scratch"
    assert encoder_start("imagenet:timm/resnet34.a1_in1k") == "ImageNet"
    assert encoder_start("package:efficientnet-lite0") == "pretrained (package)"
    assert encoder_start("weird") == "weird"
    assert group_label(GROUPS[1]) == "unet_imagenet\nImageNet"
    assert group_label(GROUPS[0], with_loss=True, sep=" | ") == "vanilla | no encoder | loss l1"
    # Long model names wrap after an underscore; a piece longer than the width keeps its own line.
    assert wrap_name("unet_efficientnet_lite0_imagenet", 18) == "unet_efficientnet_\nlite0_imagenet"
    assert wrap_name("encoder_decoder_efficientnet_lite0", 10) == "encoder_\ndecoder_\nefficientnet_\nlite0"
    assert wrap_name("vanilla", 3) == "vanilla"
    assert group_label(GROUPS[1], width=6) == "unet_\nimagenet\nImageNet"


def test_read_val_curve_keeps_one_value_per_epoch(sweep):
    assert read_val_curve(sweep / "0" / "csv" / "metrics.csv") == ([0, 1, 2], [18.0, 19.0, 19.5])
    assert read_val_curve(sweep / "3" / "csv" / "metrics.csv") == ([], [])


def test_curves_skip_jobs_without_csv_column_or_success(sweep):
    curves = job_curves(sweep, GROUPS, JOBS)
    assert [(k, job) for k, job, _, _ in curves] == [(0, "0"), (1, "2")]  # 1: no csv; 3: no column; 4: failed
    assert curves[1][2:] == ([0, 1, 2], [18.5, 20.0, 21.0])


def test_no_curve_no_plot(tmp_path):
    assert val_curves(tmp_path, GROUPS, JOBS, tmp_path / "v.png") is None
    assert not (tmp_path / "v.png").exists()
    assert [p.name for p in write_study_plots(tmp_path, GROUPS, JOBS)] == [
        "study_psnr.png", "study_ssim.png", "study_auc.png"]


def test_four_pngs_with_each_groups_colour(sweep, tmp_path):
    out = tmp_path / "plots"
    paths = write_study_plots(sweep, GROUPS, JOBS, out)
    assert [p.name for p in paths] == ["study_psnr.png", "study_ssim.png", "study_auc.png", "study_val_psnr.png"]
    colors = group_colors(len(GROUPS))
    for path in paths:
        assert path.parent == out
        with Image.open(path) as img:
            img.verify()  # a complete, valid PNG
        with Image.open(path) as img:
            assert img.format == "PNG" and img.width >= 600 and 400 <= img.height <= 2000
            pixels = [_pixels_near(img, c) for c in colors]
        # Bars (and curves) of the groups with a finished seed are drawn in their colour; the failed one is not.
        assert pixels[0] > 50 and pixels[1] > 50, (path.name, pixels)
        assert pixels[2] == 0, (path.name, pixels)
    with Image.open(out / "study_psnr.png") as img:
        bars = _pixels_near(img, colors[1]) - _pixels_near(img, colors[0])
    assert bars > 0  # 22 dB draws a taller bar than 20 dB on an axis that starts below both


def test_one_epoch_of_one_run_spans_its_epoch_and_speaks_of_one_run(tmp_path, monkeypatch):
    import colorization.reports.study_plots as study_plots

    drawn = []
    monkeypatch.setattr(study_plots, "save_figure", lambda fig, path: drawn.append(fig) or path)
    (tmp_path / "run" / "csv").mkdir(parents=True)
    (tmp_path / "run" / "csv" / "metrics.csv").write_text("epoch,step,val/psnr\n0,4,18.25\n")
    group = {"model": "vanilla", "loss": "l1", "jobs": "run"}
    val_curves(tmp_path, [group], [{"job": "run", "status": "ok"}], tmp_path / "v.png")
    (ax,) = drawn[0].axes
    assert ax.get_xlim() == (-0.5, 0.5) and [t for t in ax.get_xticks() if -0.5 <= t <= 0.5] == [0]
    assert ax.get_title() == "validation PSNR per epoch of this run" and ax.get_legend() is None

    val_curves(tmp_path, [group, {**group, "model": "unet"}], [{"job": "run", "status": "ok"}] * 2, tmp_path / "w.png")
    assert "one line per job" in drawn[1].axes[0].get_title()
