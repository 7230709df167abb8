"""``job_status.json`` of a job that SLURM requeued while it ran: ``requeued``, not ``failed`` or ``terminated``.

No cluster needed: a stand-in ``scontrol`` on PATH keeps the job's restart count in a file and raises it on
``scontrol requeue``, as SLURM does the moment a job is requeued. The real cluster's version of this is
test_slurm_preemption.py (``make test-slurm``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf

from colorization.runs.job import run_job
from colorization.runs.status import STATUS_FILE
from colorization.runs.termination import JobTerminated

SCONTROL = """#!/bin/sh
count=$(cat "{state}")
if [ "$1" = requeue ]; then echo $((count + 1)) > "{state}"; exit 0; fi
echo "JobId=7 ArrayJobId=7 ArrayTaskId=0 JobName=train JobState=RUNNING Requeue=1 Restarts=$count BatchFlag=1"
"""


@pytest.fixture
def slurm_job(tmp_path, monkeypatch):
    """A SLURM job id in the environment and a stand-in ``scontrol``; returns the restart-count file."""
    state = tmp_path / "restarts"
    state.write_text("0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(SCONTROL.format(state=state))
    (bin_dir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    return state


def _run(tmp_path, task) -> tuple[BaseException, dict]:
    out = tmp_path / "run"
    cfg = OmegaConf.create({"paths": {"output_dir": str(out)}, "optimized_metric": "val/psnr"})
    with pytest.raises(BaseException) as stopped:
        run_job(cfg, task)
    return stopped.value, json.loads((out / STATUS_FILE).read_text())


def _requeue_and_exit(cfg):
    # What submitit's pre-emption handler does: scontrol requeue <job>, then sys.exit(-1).
    subprocess.run(["scontrol", "requeue", "7_0"], check=True)
    sys.exit(-1)


def test_a_job_submitit_requeued_is_requeued_and_still_exits_as_submitit_asked(tmp_path, slurm_job):
    stopped, status = _run(tmp_path, _requeue_and_exit)
    assert (type(stopped), stopped.code) == (SystemExit, -1)
    assert (status["status"], status["requeue"], status["error"]) == (
        "requeued", "SLURM job 7_0 requeued (restart 1)", "SystemExit: -1")


def test_the_requeued_run_that_stops_again_on_its_own_is_failed(tmp_path, slurm_job, monkeypatch):
    # The second run (SLURM_RESTART_COUNT=1) exits without any new requeue: a failure, as before.
    slurm_job.write_text("1\n")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")

    def exit_(cfg):
        sys.exit(-1)

    stopped, status = _run(tmp_path, exit_)
    assert (type(stopped), stopped.code) == (SystemExit, -1)
    assert (status["status"], status["error"]) == ("failed", "SystemExit: -1")
    assert status["requeue"] is None


def test_the_sigterm_of_a_requeue_marks_the_job_requeued(tmp_path, slurm_job):
    # Lightning's auto-requeue: scontrol requeue; SLURM then stops the running job with SIGTERM.
    def requeue_then_sigterm(cfg):
        subprocess.run(["scontrol", "requeue", "7"], check=True)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the watch raises first
        return {}

    stopped, status = _run(tmp_path, requeue_then_sigterm)
    assert (type(stopped), stopped.code) == (JobTerminated, 143)
    assert (status["status"], status["error"]) == ("requeued", "terminated by SIGTERM")
    assert status["wall_time_s"] < 5
