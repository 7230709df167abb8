"""``hydra/launcher=gpus``: a sweep's jobs run at once, one per free GPU, scheduled by Ray. Two logical GPUs declared
on a machine without any (``hydra.launcher.num_gpus=2``) make the scheduling run, and be checked, on the CPU."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.entry_points import TINY, only_dir, read_json, run_entry

pytest.importorskip("hydra_plugins.hydra_ray_launcher")


def _intervals(jobs: list[dict]) -> list[tuple[datetime, datetime, str]]:
    """(start, end, visible_devices) of each job, from its ``job_status.json``."""
    return [(datetime.fromisoformat(j["started_at"]), datetime.fromisoformat(j["ended_at"]), j["visible_devices"])
            for j in jobs]


def _most_at_once(intervals: list[tuple[datetime, datetime, str]]) -> int:
    """The most jobs running at one moment (a job's start counted before another's end at the same instant)."""
    events = sorted([(s, 1) for s, _, _ in intervals] + [(e, -1) for _, e, _ in intervals], key=lambda x: (x[0], -x[1]))
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def _sweep(tmp_path: Path, sample_data_dir: Path, *overrides: str, check: bool = True):
    """``train.py -m hydra/launcher=gpus`` on 2 logical GPUs; returns (the finished process, its sweep dir)."""
    proc = run_entry("train.py", ["-m", "hydra/launcher=gpus", "hydra.launcher.num_gpus=2", "model=vanilla",
                                  "logger=csv", *overrides, *TINY], tmp_path, sample_data_dir, check=check)
    return proc, only_dir(tmp_path / "multirun")


@pytest.mark.timeout(240)
def test_four_jobs_on_two_logical_gpus_run_two_at_a_time(tmp_path: Path, sample_data_dir: Path) -> None:
    """Each job gets one GPU of its own (CUDA_VISIBLE_DEVICES "0" or "1"), two run at once, never two on one GPU
    at once, and the sweep summary covers every job."""
    _, sweep = _sweep(tmp_path, sample_data_dir, "seed=1,2,3,4")
    jobs = [read_json(sweep / str(n) / "job_status.json") for n in range(4)]
    assert [j["status"] for j in jobs] == ["ok"] * 4
    intervals = _intervals(jobs)
    assert {gpu for _, _, gpu in intervals} == {"0", "1"}, "each job sees exactly one of the two GPUs"
    for i, (s1, e1, gpu1) in enumerate(intervals):
        assert s1 < e1
        for s2, e2, gpu2 in intervals[i + 1:]:
            if gpu1 == gpu2:
                assert e1 <= s2 or e2 <= s1, f"two jobs on GPU {gpu1} at once"
    assert _most_at_once(intervals) == 2, "two jobs at once, never more"
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [(r["seed"], r["status"]) for r in rows] == [("1", "ok"), ("2", "ok"), ("3", "ok"), ("4", "ok")]
    assert all(float(r["test/psnr"]) > 0 for r in rows)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_failed_job_frees_its_gpu_and_the_sweep_goes_on(tmp_path: Path, sample_data_dir: Path) -> None:
    # The middle job gets a negative learning rate: torch refuses it when fit builds the optimizer.
    proc, sweep = _sweep(tmp_path, sample_data_dir, "optimizer.lr=0.001,-1,0.002", check=False)
    assert proc.returncode == 1, "a sweep with a failed job exits non-zero, after the summary"
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "learning rate" in rows[1]["error"].lower()
    failed = read_json(sweep / "1" / "job_status.json")
    assert failed["visible_devices"] in ("0", "1") and failed["started_at"] < failed["ended_at"]
    assert (sweep / "2" / "metrics.json").exists()
