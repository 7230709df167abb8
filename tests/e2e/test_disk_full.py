"""A job whose disk fills up fails with the real cause, "No space left on device while writing <path>", in its
status file, its log's last error and the sweep summary; and the sweep goes on with its next job.

The full disk is real: a tmpfs of a few MB, filled up to a little room, mounted as the run dir (root only; the
tests skip otherwise).
"""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.entry_points import TINY, read_json, run_entry

SIZE_KB = 3072
# Room left for Hydra's config files and the log, not for a checkpoint (a vanilla width-8 checkpoint is ~0.5 MB).
FREE_KB = 160
ERROR_PREFIX = "No space left on device while writing "


@pytest.fixture
def full_disk() -> Iterator[Callable[[Path], Path]]:
    """``full_disk(dir)`` mounts a nearly full tmpfs at ``dir``; every mount is undone after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a real full disk) needs root")
    mounted: list[Path] = []

    def mount(where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_KB}k", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(where)
        (where / "filler").write_bytes(b"\0" * ((SIZE_KB - FREE_KB) * 1024))
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def _last_error_line(output: str) -> str:
    return [line for line in output.splitlines() if "[ERROR]" in line][-1]


def test_full_disk_fails_the_job_with_the_file_it_could_not_write(tmp_path, sample_data_dir, full_disk):
    run_dir = full_disk(tmp_path / "full") / "run"
    proc = run_entry("train.py", [*TINY, "model=vanilla", "logger=csv", f"hydra.run.dir={run_dir}"], tmp_path,
                     sample_data_dir, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    error = read_json(run_dir / "job_status.json")["error"]
    assert error.startswith(ERROR_PREFIX + str(run_dir / "checkpoints")) and error.endswith(".ckpt"), error
    assert _last_error_line(proc.stdout).endswith(f"job failed: {error}")


@pytest.mark.slow
def test_a_sweep_goes_on_past_a_job_whose_disk_is_full(tmp_path, sample_data_dir, full_disk):
    sweep = tmp_path / "sweep"
    full_disk(sweep / "1")  # job 1's run dir; the sweep dir itself has room
    proc = run_entry("train.py", ["-m", *TINY, "model=vanilla", "seed=1,2,3", "logger=csv",
                                  f"hydra.sweep.dir={sweep}"], tmp_path, sample_data_dir, check=False)
    assert proc.returncode == 1, "a failed job: non-zero, after the summary"
    jobs = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [r["status"] for r in jobs] == ["ok", "failed", "ok"]
    assert jobs[1]["error"].startswith(ERROR_PREFIX + str(sweep / "1")), jobs[1]["error"]
    (group,) = csv.DictReader((sweep / "summary.csv").open())
    assert (group["n_seeds"], group["n_failed"]) == ("2", "1")
    assert ERROR_PREFIX in (sweep / "summary.md").read_text()
