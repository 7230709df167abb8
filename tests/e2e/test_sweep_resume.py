"""``python -m colorization resume DIR`` finishes a sweep whose driver was killed (``kill -9``) while job 1 trained:
job 0 is kept byte for byte, job 1 continues from its own last checkpoint, job 2 runs, and the summary covers the
three seeds as one configuration. The same command into the same dir is refused in one line, and so is a second
sweep into a dir whose sweep runs; a ``ckpt_path=last`` resume that does not fit its run leaves every file as it was.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_termination import _start
from tests.support.entry_points import REPO, TINY, read_json, run_entry

# Long enough per job (a tiny epoch is a fraction of a second) that the kill lands while job 1 trains.
SWEEP = ["-m", *TINY, "model=vanilla", "logger=csv", "trainer.max_epochs=8", "seed=1,2,3"]


def _files(job: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in [job / "metrics.json", *sorted((job / "checkpoints").iterdir())]}


def _kill_during_job_1(sweep: Path, cwd: Path, data_dir: Path, timeout_s: float = 240) -> None:
    proc = _start([*SWEEP, f"hydra.sweep.dir={sweep}"], cwd, data_dir)
    deadline = time.monotonic() + timeout_s
    while not (sweep / "1" / "checkpoints" / "last.ckpt").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"job 1 never wrote a checkpoint; exit {proc.returncode}\n"
                                 f"{proc.communicate()[0][-4000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def _resume(sweep: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "colorization", "resume", str(sweep), *args], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, sample_data_dir) -> dict:
    """A 3-job sweep killed with SIGKILL during job 1, what was there before the resume, and the resume."""
    cwd = tmp_path_factory.mktemp("resume")
    sweep = cwd / "sweep"
    _kill_during_job_1(sweep, cwd, sample_data_dir)
    killed = {n: (read_json(sweep / n / "job_status.json")["status"] if (sweep / n).exists() else None)
              for n in "012"}
    job0 = _files(sweep / "0")
    again = run_entry("train.py", [*SWEEP, f"hydra.sweep.dir={sweep}"], cwd, sample_data_dir, check=False)
    return {"sweep": sweep, "cwd": cwd, "killed": killed, "job0": job0, "again": again, "resume": _resume(sweep)}


def test_a_killed_sweep_is_finished_by_resume(resumed):
    sweep = resumed["sweep"]
    assert resumed["killed"] == {"0": "ok", "1": "running", "2": None}, "kill -9 leaves job 1 saying running"
    proc = resumed["resume"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.splitlines()[1:4] == [  # what it does, job by job, before the sweep's own output
        "  job 0 (ok): keep its results",
        f"  job 1 (running): resume from {sweep / '1' / 'checkpoints' / 'last.ckpt'}",
        "  job 2 (never started): run it"]
    jobs = [read_json(sweep / n / "job_status.json") for n in "012"]
    assert [(j["status"], j["seed"]) for j in jobs] == [("ok", 1), ("ok", 2), ("ok", 3)]
    assert _files(sweep / "0") == resumed["job0"], "job 0's checkpoints and metrics.json untouched"
    assert jobs[1]["resumed_from"] == str(sweep / "1" / "checkpoints" / "last.ckpt")
    assert f"resuming from {sweep / '1' / 'checkpoints' / 'last.ckpt'}" in (sweep / "1" / "train.log").read_text()
    assert jobs[0]["resumed_from"] is None and jobs[2]["resumed_from"] is None
    with (sweep / "1" / "csv" / "metrics.csv").open() as f:
        epochs = sorted({int(float(r["epoch"])) for r in csv.DictReader(f) if r["epoch"] and r["val/psnr"]})
    assert epochs == list(range(8)), "job 1's history: every epoch once, the killed part's and the resumed part's"
    groups = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [(g["model"], g["n_seeds"], g["seeds"]) for g in groups] == [("vanilla", "3", "1 2 3")]
    assert [r["status"] for r in csv.DictReader((sweep / "jobs.csv").open())] == ["ok"] * 3


def test_the_same_command_into_the_same_dir_is_refused_in_one_line(resumed):
    sweep, again = resumed["sweep"], resumed["again"]
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"hydra.sweep.dir={sweep} already holds a sweep (2 job dirs): continue it with `python -m colorization "
        f"resume {sweep}` once it has stopped, or set hydra.sweep.dir to a new dir"]
    assert "Traceback" not in again.stdout + again.stderr


def test_a_refused_ckpt_path_resume_changes_nothing(resumed, sample_data_dir):
    run = resumed["sweep"] / "0"
    watched = [run / "job_status.json", run / ".hydra" / "config.yaml", run / "metrics.json"]
    before = [p.read_bytes() for p in watched]
    proc = run_entry("train.py", [*TINY, "model=vanilla", "logger=csv", "trainer.max_epochs=8", "seed=1",
                                  "loss=mse", "ckpt_path=last", f"hydra.run.dir={run}"], resumed["cwd"],
                     sample_data_dir, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"ckpt_path=last ({run / 'checkpoints' / 'last.ckpt'}) was trained with other settings than this run's: "
        "loss.name='mse' (checkpoint: 'l1'); pass the settings it was trained with, or start a new run without "
        "ckpt_path"]
    assert [p.read_bytes() for p in watched] == before, "job_status.json, .hydra/config.yaml, metrics.json"


@pytest.mark.slow
def test_resumed_jobs_match_an_uninterrupted_sweep_and_a_running_sweep_keeps_its_dir(resumed, tmp_path,
                                                                                      sample_data_dir):
    """Jobs 0 and 2 of the resumed sweep have the test metrics of the same sweep run without interruption (CPU
    runs are deterministic); a second sweep started into that sweep's dir while it runs is refused at once, and
    the first ends with only its own jobs."""
    sweep = tmp_path / "sweep"
    first = _start([*SWEEP, f"hydra.sweep.dir={sweep}"], tmp_path, sample_data_dir)
    while not (sweep / "sweep.json").exists() and first.poll() is None:
        time.sleep(0.1)
    started = time.monotonic()
    second = run_entry("train.py", [*SWEEP[:-1], "seed=7,8", f"hydra.sweep.dir={sweep}"], tmp_path,
                       sample_data_dir, check=False)
    refused_in = time.monotonic() - started
    out = first.communicate(timeout=600)[0]
    assert first.returncode == 0, out[-3000:]
    assert second.returncode == 1 and "is in use by a running sweep (pid " in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and refused_in < 60
    assert [read_json(sweep / n / "job_status.json")["seed"] for n in "012"] == [1, 2, 3]
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2"], "only its own jobs"
    for n in "02":
        ours = read_json(resumed["sweep"] / n / "metrics.json")
        theirs = read_json(sweep / n / "metrics.json")
        assert {k: v for k, v in ours.items() if k.startswith("test/")} == \
            {k: v for k, v in theirs.items() if k.startswith("test/")}


@pytest.mark.slow
def test_an_optuna_sweep_continues_towards_n_trials_with_its_finished_trials(tmp_path, sample_data_dir):
    """hparams_search=optuna with 3 trials, killed during trial 1: the resume keeps trial 0, continues trial 1 from
    its checkpoint, asks only trial 2, and Optuna's best is the best of all three."""
    sweep = tmp_path / "sweep"
    args = [*SWEEP[:-1], "hparams_search=optuna", "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweep.dir={sweep}"]
    proc = _start(args, tmp_path, sample_data_dir)
    deadline = time.monotonic() + 240
    while not (sweep / "1" / "checkpoints" / "last.ckpt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    trial0 = (sweep / "0" / "metrics.json").read_bytes()
    out = _resume(sweep)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    jobs = [read_json(sweep / n / "job_status.json") for n in "012"]
    assert [j["status"] for j in jobs] == ["ok"] * 3 and not (sweep / "3").exists()
    assert (sweep / "0" / "metrics.json").read_bytes() == trial0
    assert jobs[1]["resumed_from"] == str(sweep / "1" / "checkpoints" / "last.ckpt")
    lrs = {next(o for o in j["overrides"] if o.startswith("optimizer.lr=")) for j in jobs}
    assert len(lrs) == 3, "three trials, three learning rates"
    best = (sweep / "optimization_results.yaml").read_text()
    assert f"best_value: {max(j['metrics']['val/psnr_best'] for j in jobs)}" in best
