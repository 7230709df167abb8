"""The study report on a hand-made sweep: the table's numbers are the summary's, the picture has one column per
group from its first finished seed's checkpoint, and ``--wandb`` writes one offline run with the images."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorization.io.checkpoints import CHECKPOINT_FORMAT_VERSION
from colorization.reports.study_report import grid_columns, main, results_table, summary_settings, sweep_group_name
from colorization.reports.sweep_summary import summarize
from tests.support.wandb_files import wandb_records_text

N_IMAGES = 6
# model -> (encoder_weights, PSNR shift against vanilla per image i: constant + a wobble, so intervals are not
# points); None: the model's only job failed.
ARMS = {"vanilla": (None, lambda i: 0.0), "unet_imagenet": ("imagenet:timm/resnet34.a1_in1k",
                                                            lambda i: 2.0 + 0.3 * np.cos(i)),
        "resnet": ("scratch", None)}
SEEDS = (1, 2)


def _job(sweep: Path, num: int, model: str, seed: int, data_root: Path | None) -> None:
    weights, shift = ARMS[model]
    d = sweep / str(num)
    (d / ".hydra").mkdir(parents=True)
    st = {"status": "ok" if shift else "failed", "model": model, "loss": "l1", "seed": seed,
          "encoder_weights": weights, "overrides": [f"model={model}", "loss=l1", f"seed={seed}"], "wall_time_s": 2.0,
          # where the job wrote it, on the machine that ran the sweep: the report finds it beside the status file
          "best_ckpt": f"/elsewhere/sweep/{num}/checkpoints/epoch_003.ckpt"}
    if shift is None:
        st["error"] = "RuntimeError: boom"
    else:
        st["metrics"] = {"test/dcf": 5.0 + seed, "test/dcf_gray": 30.0}
        with (d / "test_images.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "psnr", "psnr_gray", "ssim", "ssim_gray", "auc", "auc_gray", "cf", "cf_gray"])
            for i in range(N_IMAGES):
                psnr = 20.0 + 0.5 * np.sin(i) + 0.1 * seed + shift(i)
                w.writerow([f"photo_{i}", psnr, 16.5, 0.8 + 0.01 * i, 0.81, 0.9, 0.85, 20.0, 0.0])
        _checkpoint(d / "checkpoints" / "epoch_003.ckpt", seed=num)
    (d / "job_status.json").write_text(json.dumps(st))
    data = {"_target_": "colorization.data.ColorizationDataModule", "source": "kaggle", "root": str(data_root),
            "image_size": 64, "batch_size": 4, "num_workers": 0, "val_fraction": 0.25, "test_fraction": 0.25}
    cfg = {"data": data, "logger": {"wandb": {"project": "colorization-study-test", "entity": None}}}
    (d / ".hydra" / "config.yaml").write_text(json.dumps(cfg))  # JSON is YAML


def _checkpoint(path: Path, seed: int) -> None:
    """A tiny real ``train.py``-style checkpoint (a two-stage vanilla CNN, random weights)."""
    from colorization.training.module import ColorizationModule

    torch.manual_seed(seed)
    m = ColorizationModule(model={"name": "vanilla", "widths": [4, 8], "head_stride": 2}, loss={"name": "l1"},
                           optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3})
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": m.state_dict(), "hyper_parameters": dict(m.hparams),
                "format_version": CHECKPOINT_FORMAT_VERSION}, path)


@pytest.fixture
def sweep(tmp_path, real_crops) -> Path:
    """``multirun/2025-01-02/03-04-05-6789``: vanilla and unet_imagenet x seeds 1, 2 (jobs 0-3), resnet failed (4)."""
    from colorization.color import rgb_to_lab8
    from colorization.data import write_kaggle_layout

    lab8 = rgb_to_lab8(torch.from_numpy(real_crops).permute(0, 3, 1, 2)).numpy()
    data_root = write_kaggle_layout(tmp_path / "kaggle", lab8)
    sweep_dir = tmp_path / "multirun" / "2025-01-02" / "03-04-05-6789"
    jobs = [(m, s) for m in ("vanilla", "unet_imagenet") for s in SEEDS] + [("resnet", 1)]
    for num, (model, seed) in enumerate(jobs):
        _job(sweep_dir, num, model, seed, data_root)
    return sweep_dir


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_table_numbers_are_the_summarys(sweep):
    summary = summarize(sweep, show=False)
    vanilla, unet, resnet = summary.groups
    lines = results_table(summary.groups).splitlines()
    assert len(lines) == 2 + 1 + 3 and all(line.count("|") == lines[0].count("|") for line in lines)
    head = _cells(lines[0])
    gray, *rows = [dict(zip(head, _cells(line), strict=True)) for line in lines[2:]]
    assert gray["model"] == "*gray baseline (a = b = 0)*" and gray["PSNR ↑"] == "16.50" and gray["dCF ↓"] == "30.00"

    # Every number is the summary's, rounded as a person reads it; the values are the hand-made ones.
    shift = np.mean([2.0 + 0.3 * np.cos(i) for i in range(N_IMAGES)])
    assert unet["Δpsnr_vs_vanilla"] == pytest.approx(shift)
    u = rows[1]
    assert (u["model"], u["loss"], u["encoder start"], u["n_seeds"], u["n_images"]) == (
        "unet_imagenet", "l1", "ImageNet", "2", str(N_IMAGES))
    assert u["PSNR ↑"] == f"{unet['psnr']:.2f} [{unet['psnr_ci_low']:.2f}, {unet['psnr_ci_high']:.2f}]"
    assert unet["psnr_ci_low"] < unet["psnr"] < unet["psnr_ci_high"]
    d = "Δpsnr_vs_vanilla"
    assert u["ΔPSNR vs vanilla"] == f"{unet[d]:+.2f} [{unet[d + '_ci_low']:+.2f}, {unet[d + '_ci_high']:+.2f}]"
    assert u["SSIM ↑"].startswith(f"{unet['ssim']:.4f} [") and u["dCF ↓"] == "6.50"  # mean of 6 and 7
    assert (u["verdict (PSNR)"], u["verdict (SSIM)"], u["verdict (AuC)"]) == (
        "better", "no clear difference", "no clear difference")
    assert rows[0]["encoder start"] == "no encoder" and rows[0]["verdict (PSNR)"] == "baseline"
    assert rows[0]["ΔPSNR vs vanilla"] == "–" and vanilla["psnr"] == pytest.approx(float(rows[0]["PSNR ↑"][:5]), 0.01)
    assert rows[2]["n_images"] == "no finished seed (1 failed)" and resnet["n_seeds"] == 0

    # summary.csv read back (strings, "" for missing) gives the same table.
    with (sweep / "summary.csv").open() as f:
        assert results_table(list(csv.DictReader(f))) == "\n".join(lines)


def test_grid_columns_take_each_groups_first_finished_job(sweep):
    summary = summarize(sweep, show=False)
    columns = grid_columns(sweep, summary.groups, summary.jobs)
    assert [(g["model"], job) for g, _, job in columns] == [("vanilla", "0"), ("unet_imagenet", "2")]
    assert columns[1][1] == sweep / "2" / "checkpoints" / "epoch_003.ckpt"  # moved sweep: found by its file name
    (sweep / "0" / "checkpoints" / "epoch_003.ckpt").unlink()  # seed 1 lost its checkpoint: seed 2 stands in
    assert [job for _, _, job in grid_columns(sweep, summary.groups, summary.jobs)] == ["1", "2"]


def test_sweep_group_is_the_jobs_wandb_group(sweep, monkeypatch):
    assert sweep_group_name(sweep) == "sweep-2025-01-02_03-04-05-6789"
    monkeypatch.chdir(sweep)
    assert sweep_group_name(Path(".")) == "sweep-2025-01-02_03-04-05-6789"


def test_main_prints_table_writes_plots_grid_and_offline_wandb_run(sweep, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert summary_settings(sweep) == {"baseline_model": "vanilla", "confidence": 0.95, "n_resamples": 2000}
    # The sweep's own summary settings (its callback's, in a job's hydra.yaml) are the report's.
    callback = {"sweep_summary": {"baseline_model": "vanilla", "confidence": 0.9, "n_resamples": 500}}
    (sweep / "1" / ".hydra" / "hydra.yaml").write_text(json.dumps({"hydra": {"callbacks": callback}}))
    grid = tmp_path / "docs" / "study.png"
    assert main([str(sweep), "--grid", str(grid), "--images", "3", "--wandb"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mean [90% CI] over seeds x test images")
    unet = summarize(sweep, show=False, confidence=0.9, n_resamples=500).groups[1]
    assert f"| {unet['psnr']:.2f} [{unet['psnr_ci_low']:.2f}, {unet['psnr_ci_high']:.2f}] |" in out
    assert "| *gray baseline (a = b = 0)* |" in out and "| unet_imagenet | l1 | ImageNet | 2 | 6 |" in out
    plots = [sweep / f"study_{name}.png" for name in ("psnr", "ssim", "auc")]
    for path in plots:
        with Image.open(path) as img:
            assert img.format == "PNG" and img.width >= 600 and img.height >= 400
    assert not (sweep / "study_val_psnr.png").exists()  # no job of this sweep has a CSV log

    # The picture: 3 test crops (64 px, x2) in rows; gray | vanilla | unet_imagenet | truth.
    with Image.open(grid) as img:
        pic = np.asarray(img.convert("RGB"), dtype=np.int16)
    assert pic.shape[1] == 4 * 128 + 3 * 2 and (pic.shape[0] - 3 * 128 - 2 * 2) in range(10, 60)
    header = pic.shape[0] - 3 * 128 - 2 * 2
    gray, truth = pic[header:, :128], pic[header:, 3 * 130 :]
    assert np.abs(gray - gray[..., :1]).max() <= 2  # a = b = 0: no colour
    assert np.abs(truth - truth[..., :1]).max() > 20  # real photos: colour

    # One offline W&B run of job type "study" in the sweep's group, under SWEEP_DIR/wandb, with the five images.
    (run_dir,) = (sweep / "wandb").glob("offline-run-*")
    records = wandb_records_text(next(run_dir.glob("run-*.wandb")), expect="study/grid")
    for word in ("sweep-2025-01-02_03-04-05-6789", "colorization-study-test", "study-2025-01-02_03-04-05-6789",
                 "study/summary", "study/psnr", "study/ssim", "study/auc", "study/grid"):
        assert word in records, word
    # The job type: the bare string "study" as a field of the run record (one protobuf tag byte may trail it).
    assert re.search(r"^study.?$", records, re.MULTILINE)
    pngs = list((run_dir / "files" / "media" / "images").rglob("*.png"))
    assert len(pngs) == 4  # three plots + the grid
    (table,) = (run_dir / "files" / "media" / "table").rglob("*.table.json")
    data = json.loads(table.read_text())
    assert [row[0] for row in data["data"]] == ["vanilla", "unet_imagenet", "resnet"]
    assert data["columns"][5] == "PSNR ↑"
