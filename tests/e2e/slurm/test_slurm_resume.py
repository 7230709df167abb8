"""A ``hydra/launcher=slurm`` sweep whose driver is killed (``kill -9``) and whose SLURM jobs are then cancelled is
finished by ``colorization resume``: while a job still runs in SLURM the resume refuses, naming it; once they are
gone, job 0 continues from its own ``last.ckpt`` in new SLURM jobs and the sweep ends with both jobs ok.

Runs only under ``make test-slurm`` (scripts/test_slurm.sh).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.slurm.test_slurm_preemption import LAUNCHER, REPO, SETTINGS, _status, _tail, _wait_for

pytestmark = pytest.mark.skipif(not os.environ.get("COLORIZATION_TEST_SLURM"),
                                reason="needs the SLURM cluster of `make test-slurm`")


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "COLORIZATION_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH")]))}
    for name in ("LOCAL_RANK", "WORLD_SIZE", "SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID", "COLORIZATION_RESUME"):
        env.pop(name, None)
    return env


def _resume(sweep: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "colorization", "resume", str(sweep)], env=_env(home), cwd=home,
                          capture_output=True, text=True, timeout=500)


@pytest.mark.timeout(900)
def test_a_killed_slurm_sweep_is_finished_by_resume(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(REPO / "train.py"), "-m", *LAUNCHER, *SETTINGS, "seed=1,2", f"hydra.sweep.dir={sweep}"]
    with (logs / "sweep.out").open("w") as out, (logs / "sweep.err").open("w") as err:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(tmp_path), stdout=out, stderr=err)
        _wait_for("job 0's last.ckpt", lambda: (sweep / "0" / "checkpoints" / "last.ckpt").exists(), proc, logs,
                  timeout_s=300)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    job0 = _status(sweep / "0")
    assert job0["status"] == "running" and job0["slurm_job_id"], job0

    # The driver is gone, its SLURM jobs are not: resuming now would run job 0 twice.
    early = _resume(sweep, tmp_path)
    assert early.returncode == 1, early.stdout[-2000:] + early.stderr[-2000:]
    assert early.stderr.startswith("job 0 of this sweep is still running (pid ")
    assert f"SLURM job {job0['slurm_job_id']}" in early.stderr

    array = job0["slurm_job_id"]
    ids = {p.name.split("_")[0] for p in (sweep / ".submitit").iterdir() if p.name[0].isdigit()}
    subprocess.run(["scancel", *ids], check=True, timeout=30)
    deadline = time.monotonic() + 120
    while subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, f"SLURM jobs {ids} (job 0: {array}) still queued after scancel"
        time.sleep(1)

    done = _resume(sweep, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-4000:] + _tail(logs)
    statuses = [json.loads((sweep / n / "job_status.json").read_text()) for n in "01"]
    assert [(s["status"], s["seed"]) for s in statuses] == [("ok", 1), ("ok", 2)], statuses
    assert statuses[0]["resumed_from"] == str(sweep / "0" / "checkpoints" / "last.ckpt")
    assert statuses[0]["slurm_job_id"] not in (None, array), "job 0 finished in a new SLURM job"
    assert [r["status"] for r in csv.DictReader((sweep / "jobs.csv").open())] == ["ok", "ok"]
