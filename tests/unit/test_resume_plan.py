"""What `colorization resume` does with each job of a stopped sweep, decided from the job's dir; whether a job's
process is gone; the command's dry run and its one-line refusals."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from colorization.runs.process import process_started, still_running
from colorization.runs.resume_command import main as resume_main
from colorization.runs.status import JobStatus
from colorization.runs.sweep_dir import LOCK_FILE, SWEEP_FILE
from colorization.runs.sweep_resume import JobStillRunning, move_attempt_aside, plan_job, resume_overrides
from tests.support.checkpoints import save_checkpoint, tiny_module


def _job(sweep: Path, num: int, status: str | None, **fields) -> Path:
    job = sweep / str(num)
    job.mkdir(parents=True)
    if status is not None:
        JobStatus(status=status, job_num=num, **fields).write(job)
    return job


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_checkpoint(tiny_module(), tmp_path_factory.mktemp("ckpt") / "last.ckpt")


def _with_checkpoint(job: Path, checkpoint: Path) -> Path:
    (job / "checkpoints").mkdir()
    (job / "checkpoints" / "last.ckpt").write_bytes(checkpoint.read_bytes())
    return job / "checkpoints" / "last.ckpt"


def test_each_status_has_its_plan(tmp_path, checkpoint):
    sweep = tmp_path
    ok = _job(sweep, 0, "ok")
    terminated = _job(sweep, 1, "terminated")
    last = _with_checkpoint(terminated, checkpoint)
    broken = _job(sweep, 2, "requeued")
    (broken / "checkpoints").mkdir()
    (broken / "checkpoints" / "last.ckpt").write_bytes(b"")  # cut short: no readable checkpoint
    failed = _job(sweep, 3, "failed")
    diverged = _job(sweep, 4, "diverged")
    not_run = _job(sweep, 5, "not_run")
    killed = _job(sweep, 6, "running", node=socket.gethostname(), pid=_dead_pid(), process_started=1)
    plans = {n: plan_job(d, n, ["seed=1"], rerun_failed=False) for n, d in
             enumerate([ok, terminated, broken, failed, diverged, not_run, killed])}
    plans[7] = plan_job(sweep / "7", 7, ["seed=1"], rerun_failed=False)  # never started: no dir
    assert {n: p.action for n, p in plans.items()} == {
        0: "keep", 1: "resume", 2: "restart", 3: "skip", 4: "skip", 5: "run", 6: "restart", 7: "run"}
    assert plans[1].checkpoint == last
    assert plans[1].describe() == f"job 1 (terminated): resume from {last}"
    assert plans[3].describe() == "job 3 (failed): keep it (rerun failed jobs with --failed)"
    assert plans[7].describe() == "job 7 (never started): run it"
    assert [plan_job(d, n, [], rerun_failed=True).action for n, d in ((3, failed), (4, diverged))] == ["restart"] * 2


def test_a_job_whose_process_still_runs_stops_the_resume(tmp_path):
    job = _job(tmp_path, 0, "running", node=socket.gethostname(), pid=os.getpid(),
               process_started=process_started(os.getpid()))
    with pytest.raises(JobStillRunning, match=rf"job 0 of this sweep is still running \(pid {os.getpid()} on "):
        plan_job(job, 0, [], rerun_failed=False)


def test_a_process_is_gone_when_its_pid_is_free_or_reused():
    me, host = os.getpid(), socket.gethostname()
    assert still_running(host, me, process_started(me), None) is True
    assert still_running(host, me, process_started(me) + 1, None) is False, "the pid now names another process"
    assert still_running(host, _dead_pid(), None, None) is False
    assert still_running("another-host", me, None, None) is None, "this machine cannot tell"


def test_resume_overrides_and_a_restart_keeps_the_last_attempt(tmp_path):
    assert resume_overrides(["seed=1", "ckpt_path=/x.ckpt"]) == ["seed=1", "ckpt_path=last"]
    job = _job(tmp_path, 3, "failed")
    assert move_attempt_aside(job) == tmp_path / ".attempts" / "3.1"
    _job(tmp_path, 3, "failed")
    assert move_attempt_aside(job) == tmp_path / ".attempts" / "3.2"
    assert not job.exists() and (tmp_path / ".attempts" / "3.2" / "job_status.json").exists()


def _recorded_sweep(sweep: Path, statuses: list[str | None]) -> None:
    sweep.mkdir()
    jobs = {str(n): {"overrides": [f"seed={n + 1}"], "dir": str(n)} for n in range(len(statuses))}
    record = {"format_version": 1, "command": ["/repo/train.py", "-m", "seed=1,2,3", "hydra.sweep.dir=old"],
              "cwd": str(sweep.parent), "launcher": "sequential", "sweeper": "basic", "jobs": jobs}
    (sweep / SWEEP_FILE).write_text(json.dumps(record))
    for n, status in enumerate(statuses):
        if status is not None:
            _job(sweep, n, status)


def test_dry_run_lists_each_job_and_the_command(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    _recorded_sweep(sweep, ["ok", "failed", None])
    before = sorted(p.name for p in sweep.rglob("*"))
    assert resume_main([str(sweep), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [f"sweep {sweep} (sequential launcher, 3 jobs recorded):",
                       "  job 0 (ok): keep its results",
                       "  job 1 (failed): keep it (rerun failed jobs with --failed)",
                       "  job 2 (never started): run it"]
    assert out[4] == (f"would run, in {tmp_path}: {sys.executable} /repo/train.py -m seed=1,2,3 "
                      f"hydra.sweep.dir='{sweep}'"), "the recorded sweep dir override replaced by this one"
    assert sorted(p.name for p in sweep.rglob("*")) == before, "a dry run changes nothing"
    assert resume_main([str(sweep), "--dry-run", "--failed"]) == 0
    assert "  job 1 (failed): start it over (--failed)" in capsys.readouterr().out.splitlines()


def test_refusals_are_one_line(tmp_path, capsys):
    assert resume_main([str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err == (f"{tmp_path / 'nope'} is not a directory: pass a sweep dir (hydra.sweep.dir "
                                       "of a `train.py -m` run)\n")
    assert resume_main([str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"{tmp_path} has no readable sweep.json: only a sweep started by")
    sweep = tmp_path / "sweep"
    _recorded_sweep(sweep, ["ok"])
    # Another process holds the sweep's lock, as a running driver does.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
        "f.write('pid 1234 on node7'); f.flush(); print('locked', flush=True); time.sleep(60)"),
        str(sweep / LOCK_FILE)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert resume_main([str(sweep)]) == 1
        assert capsys.readouterr().err == (f"the sweep in {sweep} is still running (pid 1234 on node7): wait for it "
                                           "to end, or stop it, then resume\n")
    finally:
        holder.kill()
        holder.wait()
