"""The real command lines, in subprocesses: where the process boundary is the point (Hydra's run dirs, multirun
launchers and callbacks, exit codes). What a single run does is tested in process: tests/integration/test_train.py.
"""

from __future__ import annotations

import csv

import pytest
from omegaconf import DictConfig, OmegaConf

from tests.support.entry_points import REPO, TINY, only_dir, read_json, run_entry
from tests.support.wandb_files import wandb_records_text


def _default_choice(group: str) -> str:
    """The option ``conf/train.yaml`` picks for a config group (what a bare ``train.py`` runs)."""
    defaults = OmegaConf.load(REPO / "conf" / "train.yaml").defaults
    return next(d[group] for d in defaults if isinstance(d, DictConfig) and group in d)


def test_train_and_eval_command_lines(tmp_path, sample_data_dir):
    """``train.py`` with the default model makes a Hydra run dir; ``eval.py`` on its checkpoint reproduces its
    test metrics in a run dir of its own."""
    (tmp_path / "train").mkdir()
    run_entry("train.py", [*TINY, "logger=csv", "trainer.max_epochs=1"], tmp_path / "train", sample_data_dir)
    run_dir = only_dir(tmp_path / "train" / "outputs")
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "train.log").is_file()
    status = read_json(run_dir / "job_status.json")
    assert (status["status"], status["model"], status["loss"]) == ("ok", _default_choice("model"), "l1")
    assert status["best_ckpt"].startswith(str(run_dir / "checkpoints"))
    metrics = read_json(run_dir / "metrics.json")

    (tmp_path / "eval").mkdir()
    run_entry("eval.py", [f"ckpt_path={status['best_ckpt']}", "data.image_size=32", "data.batch_size=8",
                          "data.sample.crops_per_photo=4", "+trainer.limit_test_batches=1", "trainer.accelerator=cpu"],
              tmp_path / "eval", sample_data_dir)
    eval_dir = only_dir(tmp_path / "eval" / "outputs")
    eval_metrics = read_json(eval_dir / "metrics.json")
    assert read_json(eval_dir / "job_status.json")["status"] == "ok"
    for key in ("test/psnr", "test/ssim", "test/dcf", "test/auc", "test/psnr_gray"):
        assert eval_metrics[key] == pytest.approx(metrics[key], rel=1e-4, abs=1e-4), key


def test_multirun_three_models_summary_and_wandb(tmp_path, sample_data_dir):
    run_entry("train.py", ["-m", "model=vanilla,resnet,unet", *TINY], tmp_path, sample_data_dir)
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
    group = f"sweep-{sweep.parent.name}_{sweep.name}"  # the sweep dir's <date>_<time-pid>
    for job in jobs:
        assert read_json(job / "metrics.json")["test/psnr"] == pytest.approx(float(rows[int(job.name)]["test/psnr"]))
        runs = list((job / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, "each sweep job must be its own W&B run"
        assert len(list(runs[0].rglob("media/images/**/*.png"))) >= 2, "sample grids logged to W&B as images"
        assert group in wandb_records_text(next(runs[0].glob("run-*.wandb"))), "one W&B group for the whole sweep"


def test_failing_job_is_marked_failed_and_the_sweep_goes_on(tmp_path, sample_data_dir):
    # The middle job gets a negative learning rate: torch refuses it when fit builds the optimizer.
    proc = run_entry("train.py", ["-m", "model=vanilla", "optimizer.lr=0.001,-1,0.002", "logger=none", *TINY],
                     tmp_path, sample_data_dir, check=False)
    assert proc.returncode == 1, "a sweep with a failed job exits non-zero, after the summary"
    sweep = only_dir(tmp_path / "multirun")
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "learning rate" in rows[1]["error"].lower()
    assert (sweep / "2" / "metrics.json").exists()


@pytest.mark.slow
def test_optuna_sweep_of_three_trials(tmp_path, sample_data_dir):
    run_entry("train.py", ["hparams_search=optuna", "hydra.sweeper.n_trials=3", "model=vanilla", "logger=none",
                           *TINY], tmp_path, sample_data_dir)
    sweep = only_dir(tmp_path / "multirun")
    result = (sweep / "optimization_results.yaml").read_text()
    assert "best_params" in result and "optimizer.lr" in result
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
