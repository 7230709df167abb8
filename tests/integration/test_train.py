"""The experiment system end to end through the real ``train.py`` / ``eval.py`` (issue 4)."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from tests.support.entry_points import TINY, only_dir, read_json, run_entry


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    # One sample-set cache for the whole module: it is built once (seconds) and reused by every run.
    return tmp_path_factory.mktemp("data")


def test_fast_dev_run_every_model_and_loss(tmp_path, data_dir):
    run_entry("train.py", ["-m", "model=vanilla,resnet,unet", "loss=l1,mse,huber,ce", "debug=fdr", *TINY],
              tmp_path, data_dir)
    sweep = only_dir(tmp_path / "multirun")
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 12
    assert {(r["model"], r["loss"]) for r in rows} == {(m, lo) for m in ("vanilla", "resnet", "unet")
                                                       for lo in ("l1", "mse", "huber", "ce")}
    assert all(r["status"] == "ok" for r in rows), [(r["job"], r["error"]) for r in rows if r["status"] != "ok"]


def test_multirun_three_models_summary_and_wandb(tmp_path, data_dir):
    run_entry("train.py", ["-m", "model=vanilla,resnet,unet", *TINY], tmp_path, data_dir)
    sweep = only_dir(tmp_path / "multirun")
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1", "2"]
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [r["model"] for r in rows] == ["vanilla", "resnet", "unet"]
    assert all(r["status"] == "ok" for r in rows)
    assert float(rows[0]["Δpsnr_vs_vanilla"]) == 0.0
    for r in rows[1:]:
        delta = float(r["Δpsnr_vs_vanilla"])
        assert delta == pytest.approx(float(r["test/psnr"]) - float(rows[0]["test/psnr"]), abs=1e-6)
    assert "Δpsnr_vs_vanilla" in (sweep / "summary.md").read_text()
    groups = set()
    for job in jobs:
        metrics = read_json(job / "metrics.json")
        for key in ("test/psnr", "test/ssim", "test/cf", "test/dcf", "test/auc", "test/psnr_gray"):
            assert math.isfinite(metrics[key]), key
        assert sorted(p.name for p in (job / "samples").glob("epoch_*.png")) == ["epoch_000.png", "epoch_001.png"]
        runs = list((job / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, "each sweep job must be its own W&B run"
        media = list(runs[0].rglob("media/images/**/*.png"))
        assert len(media) >= 2, "sample grids logged to W&B as images"
        wandb_file = next(runs[0].glob("run-*.wandb"))
        groups.add(_wandb_group(wandb_file))
    assert len(groups) == 1 and groups.pop().startswith("sweep-"), "one W&B group for the whole sweep"


def _wandb_group(wandb_file):
    # The offline run file is a protobuf stream; the group name is stored in it as plain text.
    data = wandb_file.read_bytes()
    start = data.find(b"sweep-")
    assert start >= 0
    end = start
    while end < len(data) and chr(data[end]).isprintable() and data[end] not in b'"\x00':
        end += 1
    return data[start:end].decode()


def test_eval_reproduces_test_metrics_and_resume_continues(tmp_path, data_dir):
    run_entry("train.py", [*TINY, "logger=csv"], tmp_path / "train", data_dir) if (tmp_path / "train").mkdir() \
        is None else None
    run_dir = only_dir(tmp_path / "train" / "outputs")
    metrics = read_json(run_dir / "metrics.json")
    status = read_json(run_dir / "job_status.json")
    best = status["best_ckpt"]
    assert best and (run_dir / "checkpoints" / "last.ckpt").exists()

    (tmp_path / "eval").mkdir()
    run_entry("eval.py", [f"ckpt_path={best}", "data.image_size=32", "data.batch_size=8",
                          "data.sample.crops_per_photo=4", "+trainer.limit_test_batches=1", "trainer.accelerator=cpu"],
              tmp_path / "eval", data_dir)
    eval_metrics = read_json(only_dir(tmp_path / "eval" / "outputs") / "metrics.json")
    for key in ("test/psnr", "test/ssim", "test/dcf", "test/auc", "test/psnr_gray"):
        assert eval_metrics[key] == pytest.approx(metrics[key], rel=1e-4, abs=1e-4), key

    # Resume: the checkpoint says 2 epochs done; asking for 3 trains exactly one more.
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False, map_location="cpu")["epoch"] == 1
    (tmp_path / "resume").mkdir()
    run_entry("train.py", [*TINY, "logger=csv", "trainer.max_epochs=3", f"ckpt_path={last}"],
              tmp_path / "resume", data_dir)
    resumed = only_dir(tmp_path / "resume" / "outputs")
    assert sorted(p.name for p in (resumed / "samples").glob("*.png")) == ["epoch_002.png"]
    assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")["epoch"] == 2


def test_failing_job_is_marked_failed_and_the_sweep_goes_on(tmp_path, data_dir):
    # The middle job gets a negative learning rate: torch refuses it when fit builds the optimizer.
    proc = run_entry("train.py", ["-m", "model=vanilla", "optimizer.lr=0.001,-1,0.002", "logger=none", *TINY],
                     tmp_path, data_dir, check=False)
    assert proc.returncode == 1, "a sweep with a failed job exits non-zero, after the summary"
    sweep = only_dir(tmp_path / "multirun")
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "learning rate" in rows[1]["error"].lower()
    assert (sweep / "2" / "metrics.json").exists()


def test_optuna_sweep_of_three_trials(tmp_path, data_dir):
    run_entry("train.py", ["hparams_search=optuna", "hydra.sweeper.n_trials=3", "model=vanilla", "logger=none",
                           *TINY], tmp_path, data_dir)
    sweep = only_dir(tmp_path / "multirun")
    result = (sweep / "optimization_results.yaml").read_text()
    assert "best_params" in result and "optimizer.lr" in result
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
