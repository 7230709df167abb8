"""The real command lines, in subprocesses: where the process boundary is the point (Hydra's run dirs, multirun
launchers and callbacks, exit codes). What a single run does is tested in process: tests/integration/test_train.py.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys

import pytest
from omegaconf import DictConfig, OmegaConf

from tests.support.entry_points import REPO, TINY, only_dir, read_json, run_entry
from tests.support.wandb_files import wandb_records_text


def _default_choice(group: str) -> str:
    """The option ``conf/train.yaml`` picks for a config group (what a bare ``train.py`` runs)."""
    defaults = OmegaConf.load(REPO / "conf" / "train.yaml").defaults
    return next(d[group] for d in defaults if isinstance(d, DictConfig) and group in d)


@pytest.mark.slow  # the same train -> eval in-process: tests/integration/test_train.py
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


@pytest.mark.parametrize(("command", "code", "says"), [
    (["train.py", "--help"], 0, "usage: python train.py [-m] [group=option ...] [key=value ...]"),
    (["eval.py", "-h"], 0, "usage: python eval.py ckpt_path=PATH [group=option ...] [key=value ...]"),
    (["-m", "colorization.cli", "--help"], 0, "usage: colorize [-h]"),
    (["train.py", "model=resnt"], 1, "Could not find 'model/resnt'"),
])
def test_help_and_a_config_typo_answer_before_torch_loads(tmp_path, command, code, says):
    """Fast start: parsing the command line never imports torch (~2 s alone); the work does."""
    args = [str(REPO / command[0]), *command[1:]] if command[0].endswith(".py") else command
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == code and says in proc.stdout + proc.stderr, proc.stdout + proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert not {"torch", "lightning", "wandb"} & imported
    if command[0] == "train.py" and code == 0:  # the groups, not the resolved config
        assert "model: encoder_decoder, " in proc.stdout and "_target_" not in proc.stdout


def test_importing_the_package_changes_nothing(tmp_path):
    """OMP_WAIT_POLICY is the entry points' business (before torch loads OpenMP), not a side effect of an import."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    check = "import os, colorization; print(os.environ.get('OMP_WAIT_POLICY'))"
    proc = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(REPO)})
    assert proc.stdout.strip() == "None", proc.stderr


def test_multirun_two_models_two_seeds_summary_and_wandb(tmp_path, sample_data_dir):
    # The seed's comparison in miniature: two models x two seeds, each job its own W&B run with a table of its
    # test images, one summary row per model with intervals over seeds and images and a verdict against vanilla.
    run_entry("train.py", ["-m", "model=vanilla,resnet", "seed=1,2", *TINY], tmp_path, sample_data_dir)
    sweep = only_dir(tmp_path / "multirun")
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [(r["model"], r["seed"]) for r in rows] == [("vanilla", "1"), ("vanilla", "2"), ("resnet", "1"),
                                                       ("resnet", "2")]
    assert all(r["status"] == "ok" for r in rows)
    assert rows[2]["encoder_weights"] == "imagenet:timm/resnet34.a1_in1k"  # from the tests' HF cache, offline
    for base, r in ((rows[0], rows[2]), (rows[1], rows[3])):  # per job, against vanilla of the same seed
        assert float(r["Δpsnr_vs_vanilla"]) == pytest.approx(float(r["test/psnr"]) - float(base["test/psnr"]))
    groups = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [g["model"] for g in groups] == ["vanilla", "resnet"]
    for g in groups:
        assert (g["n_seeds"], g["n_images"]) == ("2", "8")
        assert float(g["psnr_ci_low"]) <= float(g["psnr"]) <= float(g["psnr_ci_high"])
    assert groups[1]["verdict"] in ("better", "worse", "no clear difference")
    assert "verdict" in (sweep / "summary.md").read_text()
    group = f"sweep-{sweep.parent.name}_{sweep.name}"  # the sweep dir's <date>_<time-pid>
    for job in jobs:
        assert read_json(job / "metrics.json")["test/psnr"] == pytest.approx(float(rows[int(job.name)]["test/psnr"]))
        assert len((job / "test_images.csv").read_text().splitlines()) == 1 + 8
        runs = list((job / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, "each sweep job must be its own W&B run"
        assert len(list(runs[0].rglob("media/images/**/*.png"))) >= 2, "sample grids logged to W&B as images"
        assert list(runs[0].glob("files/media/table/test/images_*.table.json")), "the test-images table"
        assert group in wandb_records_text(next(runs[0].glob("run-*.wandb")), expect=group), "one W&B group"
    # report.html: a row per group and per job, the charts, each job's val curve (the default logger includes csv)
    # and every job's pictures of the same test images.
    page = (sweep / "report.html").read_text()
    assert page.count('<tr class="group"') == 2
    assert re.findall(r'<tr class="job" data-job="(\d+)"', page) == ["0", "1", "2", "3"]
    assert "no CSV log" not in page
    assert all((sweep / "report" / f"study_{m}.png").is_file() for m in ("psnr", "ssim", "auc", "val_psnr"))
    assert len({(j / "test_images" / "index.csv").read_text() for j in jobs}) == 1
    for job in jobs:
        assert len((job / "test_images" / "index.csv").read_text().splitlines()) == 1 + 8  # 8 test crops
        assert page.count(f'<figure class="prediction" data-job="{job.name}"><img src="{job.name}/test_images/') == 8


@pytest.mark.slow  # in-process: test_job_status; the default launcher's sweep path: test_termination's sweep
def test_failing_job_is_marked_failed_and_the_sweep_goes_on(tmp_path, sample_data_dir):
    # The middle job gets a negative learning rate: torch refuses it when fit builds the optimizer.
    proc = run_entry("train.py", ["-m", "model=vanilla", "optimizer.lr=0.001,-1,0.002", "logger=none", *TINY],
                     tmp_path, sample_data_dir, check=False)
    assert proc.returncode == 1, "a sweep with a failed job exits non-zero, after the summary"
    sweep = only_dir(tmp_path / "multirun")
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "learning rate" in rows[1]["error"].lower()
    assert (sweep / "2" / "metrics.json").exists()
    # A user error in a sweep is its one line on the console; the traceback is in the job's log only.
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and output.count(f"job failed: {rows[1]['error']}") == 1
    assert "Traceback" in (sweep / "1" / "train.log").read_text()


@pytest.mark.slow  # three jobs; each model's switch itself: tests/unit/test_config.py
def test_a_sweep_mixing_vanilla_with_encoder_networks_takes_the_same_switches(tmp_path, sample_data_dir):
    run_entry("train.py", ["-m", "model=vanilla,resnet,unet", "model.pretrained=false", "logger=none", *TINY],
              tmp_path, sample_data_dir)
    rows = list(csv.DictReader((only_dir(tmp_path / "multirun") / "jobs.csv").open()))
    assert [(r["model"], r["status"]) for r in rows] == [("vanilla", "ok"), ("resnet", "ok"), ("unet", "ok")]
    assert [r["encoder_weights"] for r in rows] == ["scratch", "scratch", "scratch"]


@pytest.mark.slow  # one process per command; the sentences themselves are tested in process
@pytest.mark.parametrize(("script", "args", "line"), [
    ("train.py", ["data=folder", "data.root=/nope"],
     "job failed: DatasetError: data.root=/nope: no such folder; pass a folder of colour photos (searched "
     "recursively)"),
    ("eval.py", [], "job failed: ConfigError: ckpt_path is not set: pass the checkpoint to evaluate, e.g. python "
                    "eval.py ckpt_path=outputs/<date>/<time>/checkpoints/last.ckpt"),
])
def test_a_user_error_is_one_line_and_its_traceback_is_in_the_log(tmp_path, sample_data_dir, script, args, line):
    proc = run_entry(script, args, tmp_path, sample_data_dir, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output and output.count(line) == 1, output[-3000:]
    (log,) = (tmp_path / "outputs").glob(f"*/*/{script.removesuffix('.py')}.log")
    assert "Traceback (most recent call last)" in log.read_text()


@pytest.mark.slow
def test_optuna_sweep_of_three_trials(tmp_path, sample_data_dir):
    run_entry("train.py", ["hparams_search=optuna", "hydra.sweeper.n_trials=3", "model=vanilla", "logger=none",
                           *TINY], tmp_path, sample_data_dir)
    sweep = only_dir(tmp_path / "multirun")
    result = (sweep / "optimization_results.yaml").read_text()
    assert "best_params" in result and "optimizer.lr" in result
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
