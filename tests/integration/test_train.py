"""A training run end to end in this process: config composed by Hydra, ``colorization.train.train`` through the job
boundary, then eval and the W&B offline files (the command lines and sweeps: tests/e2e/test_entry_points.py).
"""

from __future__ import annotations

import json
import math

import pytest

from tests.support.entry_points import TINY
from tests.support.in_process import evaluate_in_process, train_in_process
from tests.support.wandb_files import wandb_records_text

TEST_KEYS = ("test/psnr", "test/ssim", "test/cf", "test/dcf", "test/auc", "test/psnr_gray")

# Every model config and every loss config once through Hydra + the Trainer (fit, validate; fast_dev_run skips the
# test). Every model x loss pair trains in tests/integration/test_module.py::test_every_model_and_loss_trains.
VANILLA_CSV = ["model=vanilla", "logger=csv"]
MODEL_LOSS_CONFIGS = [("vanilla", "ce"), ("resnet", "l1"), ("unet", "mse"), ("vanilla", "huber")]


def _read_json(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, sample_data_dir):
    """One TINY vanilla run (2 epochs, CSV logger), shared by the tests that read its checkpoints (the default
    model trains through the command line in tests/e2e/test_entry_points.py)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    return train_in_process([*TINY, *VANILLA_CSV], out, sample_data_dir), out


@pytest.mark.parametrize("model, loss", MODEL_LOSS_CONFIGS)
def test_each_model_and_loss_config_trains_through_the_trainer(model, loss, train_job):
    result, run_dir = train_job(f"model={model}", f"loss={loss}", "debug=fdr")
    status = _read_json(run_dir / "job_status.json")
    assert (status["status"], status["model"], status["loss"], status["world_size"]) == ("ok", model, loss, 1)
    assert result["epochs"] == 1, "fast_dev_run fits exactly one epoch"
    # It validates (the best-so-far values are finite) but neither tests nor checkpoints.
    assert sorted(result["metrics"]) == ["val/auc_best", "val/dcf_best", "val/loss_best", "val/psnr_best",
                                         "val/ssim_best"]
    assert all(math.isfinite(v) for v in result["metrics"].values()), result["metrics"]
    assert not result["best_ckpt"]


def test_run_writes_metrics_checkpoints_and_sample_grids(trained_run):
    result, run_dir = trained_run
    metrics = _read_json(run_dir / "metrics.json")
    assert metrics == pytest.approx(result["metrics"])
    for key in TEST_KEYS:
        assert math.isfinite(metrics[key]), key
    assert metrics["test/psnr"] > 5 and 0 < metrics["test/ssim"] <= 1
    status = _read_json(run_dir / "job_status.json")
    assert status["status"] == "ok" and status["best_ckpt"] == result["best_ckpt"]
    assert result["best_ckpt"].startswith(str(run_dir / "checkpoints" / "epoch_"))
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert sorted(p.name for p in (run_dir / "samples").glob("epoch_*.png")) == ["epoch_000.png", "epoch_001.png"]
    assert (run_dir / "csv" / "metrics.csv").read_text().startswith(("epoch,", "epoch"))
    # A single run's report.html: its metrics as a table (test/psnr shown as written) and its val curve.
    assert result["report"] == str(run_dir / "report.html")
    page = (run_dir / "report.html").read_text()
    assert 'data-metric="test/psnr"' in page and f"{metrics['test/psnr']:.2f}" in page
    assert "No validation curve" not in page


def test_eval_reproduces_the_test_metrics(trained_run, tmp_path, sample_data_dir):
    result, _ = trained_run
    evaluated = evaluate_in_process([f"ckpt_path={result['best_ckpt']}", "data.image_size=32", "data.batch_size=8",
                                     "data.sample.crops_per_photo=4", "+trainer.limit_test_batches=1",
                                     "trainer.accelerator=cpu"], tmp_path / "eval", sample_data_dir)
    assert _read_json(tmp_path / "eval" / "metrics.json") == pytest.approx(evaluated["metrics"])
    for key in ("test/psnr", "test/ssim", "test/dcf", "test/auc", "test/psnr_gray"):
        assert evaluated["metrics"][key] == pytest.approx(result["metrics"][key], rel=1e-4, abs=1e-4), key


def test_wandb_offline_run_holds_the_sample_grids_and_the_run_group(train_job):
    result, run_dir = train_job("model=vanilla", "logger=wandb")
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, "one W&B run per job"
    media = list(runs[0].rglob("media/images/**/*.png"))
    assert len(media) >= 2, "sample grids logged to W&B as images (one per epoch)"
    records = wandb_records_text(next(runs[0].glob("run-*.wandb")), expect="test/psnr")
    assert "test/psnr" in records, "test metrics logged to the W&B run"
    assert "vanilla" in records and "colorization" in records, "tags (model) and project recorded"
    assert math.isfinite(result["metrics"]["test/psnr"])
