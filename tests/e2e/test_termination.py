"""SIGTERM and SIGINT end a run as a failure: ``train.py`` exits 128 + signum, the job says ``terminated``, and a
sweep launches nothing more, marks the jobs that never started ``not_run`` and still writes its summary."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.entry_points import REPO, TINY, read_json

# Many epochs, so the signal always lands mid-training (a tiny epoch takes well under a second).
LONG = [*TINY, "trainer.max_epochs=200", "model=vanilla"]


def _start(args: list[str], cwd: Path, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "PYTHONUNBUFFERED": "1"}
    env.pop("COLORIZATION_HOME", None)
    return subprocess.Popen([sys.executable, str(REPO / "train.py"), *args, f"paths.data_dir={data_dir}"],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _signal_after_first_epoch(proc: subprocess.Popen, run_dir: Path, signum: int, timeout_s: float = 120) -> str:
    """Wait for the run's first checkpoint (its first epoch is done), send ``signum``, return the output."""
    deadline = time.monotonic() + timeout_s
    while not list((run_dir / "checkpoints").glob("*.ckpt")):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no checkpoint in {run_dir}; exit {proc.returncode}\n{proc.communicate()[0][-4000:]}")
        time.sleep(0.2)
    proc.send_signal(signum)
    try:
        return proc.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the run did not stop within 60 s of the signal") from None


def _assert_terminated(run_dir: Path, signum: int) -> None:
    status = read_json(run_dir / "job_status.json")
    name = signal.Signals(signum).name
    assert (status["status"], status["error"]) == ("terminated", f"terminated by {name}")
    assert status["wall_time_s"] > 0 and status["ended_at"] >= status["started_at"]
    assert not (run_dir / "metrics.json").exists(), "a terminated run has no final metrics"


@pytest.mark.slow  # the sweep test below ends its job 0 the same way; this adds a single run's exit status
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_a_single_run_with_128_plus_signum_and_a_terminated_status(signum, tmp_path, sample_data_dir):
    run_dir = tmp_path / "run"
    proc = _start([*LONG, "logger=csv", f"hydra.run.dir={run_dir}"], tmp_path, sample_data_dir)
    out = _signal_after_first_epoch(proc, run_dir, signum)
    assert proc.returncode == 128 + signum, out[-3000:]  # SIGTERM 143, SIGINT 130
    _assert_terminated(run_dir, signum)
    assert f"job terminated by {signal.Signals(signum).name}" in out


def _stopped_sweep(tmp_path: Path, data_dir: Path, signum: int) -> Path:
    sweep = tmp_path / "sweep"
    # Four jobs: (vanilla, 1) is stopped; (vanilla, 2), (resnet, 1), (resnet, 2) never start.
    proc = _start(["-m", *LONG, "model=vanilla,resnet", "seed=1,2", "logger=csv", f"hydra.sweep.dir={sweep}"],
                  tmp_path, data_dir)
    out = _signal_after_first_epoch(proc, sweep / "0", signum)
    assert proc.returncode == 128 + signum, out[-3000:]
    return sweep


def test_sigterm_stops_a_sweep_marks_the_rest_not_run_and_writes_the_summary(tmp_path, sample_data_dir):
    sweep = _stopped_sweep(tmp_path, sample_data_dir, signal.SIGTERM)
    _assert_terminated(sweep / "0", signal.SIGTERM)
    for job in ("1", "2", "3"):
        status = read_json(sweep / job / "job_status.json")
        assert status["status"] == "not_run" and "stopped by SIGTERM" in status["error"]
        assert any(o.startswith("seed=") for o in status["overrides"]), "its overrides, to run it again"
        assert not (sweep / job / "checkpoints").exists(), "it never started"
    jobs = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [(r["job"], r["model"], r["seed"], r["status"]) for r in jobs] == [
        ("0", "vanilla", "1", "terminated"), ("1", "vanilla", "2", "not_run"),
        ("2", "resnet", "1", "not_run"), ("3", "resnet", "2", "not_run")]
    groups = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [(g["model"], g["n_seeds"], g["n_failed"], g["n_stopped"]) for g in groups] == [
        ("vanilla", "0", "0", "2"), ("resnet", "0", "0", "2")], "stopped jobs are no failure of a configuration"
    assert "not_run" in (sweep / "summary.md").read_text()


@pytest.mark.slow
def test_sigint_stops_a_sweep_with_130(tmp_path, sample_data_dir):
    sweep = _stopped_sweep(tmp_path, sample_data_dir, signal.SIGINT)
    _assert_terminated(sweep / "0", signal.SIGINT)
    assert [read_json(sweep / j / "job_status.json")["status"] for j in "123"] == ["not_run"] * 3
    assert (sweep / "summary.csv").exists() and (sweep / "jobs.csv").exists()
