"""``job_status.json`` as :func:`colorization.runs.job.run_job` writes it, for a job that passes and one that fails:
when it ran (``started_at`` <= ``ended_at``, ISO 8601 in UTC) and on which GPUs (``visible_devices``); a full disk
named with its file; a status file that cannot be written; a job a signal ends."""

from __future__ import annotations

import errno
import json
import os
import signal
import time
from datetime import datetime, timedelta

import pytest
from omegaconf import OmegaConf

from colorization.runs.job import run_job
from colorization.runs.status import STATUS_FILE
from colorization.runs.termination import JobTerminated


def _cfg(tmp_path):
    return OmegaConf.create({"paths": {"output_dir": str(tmp_path)}, "optimized_metric": "val/psnr"})


def _status(tmp_path) -> dict:
    return json.loads((tmp_path / STATUS_FILE).read_text())


def _times(status: dict) -> tuple[datetime, datetime]:
    start, end = datetime.fromisoformat(status["started_at"]), datetime.fromisoformat(status["ended_at"])
    assert start.utcoffset() == end.utcoffset() == timedelta(0), "UTC, so jobs on other nodes compare"
    return start, end


def test_ok_job_records_its_gpus_and_when_it_ran(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    before = datetime.now().astimezone()
    value = run_job(_cfg(tmp_path), lambda cfg: {"metrics": {"val/psnr": 21.5}})
    after = datetime.now().astimezone()
    status = _status(tmp_path)
    assert (value, status["status"], status["visible_devices"]) == (21.5, "ok", "1")
    start, end = _times(status)
    assert before <= start <= end <= after


def test_failed_job_records_them_too(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def fail(cfg):
        raise ValueError("Invalid learning rate: -1")

    with pytest.raises(ValueError):  # a single run re-raises; the status file is written first
        run_job(_cfg(tmp_path), fail)
    status = _status(tmp_path)
    assert (status["status"], status["error"]) == ("failed", "ValueError: Invalid learning rate: -1")
    assert status["visible_devices"] is None, "unset: the job saw every GPU"
    start, end = _times(status)
    assert start <= end


def test_a_full_disk_is_named_with_the_file_it_could_not_write():
    from colorization.runs.job import describe_error

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/runs/1/checkpoints/last.ckpt")
        except OSError as full:
            raise RuntimeError("Error in call to target 'colorization.training.module.ColorizationModule':") from full
    except RuntimeError as e:
        assert describe_error(e) == "No space left on device while writing /runs/1/checkpoints/last.ckpt"
    # Also when the full disk caused the next error (raised while handling it, not "from" it).
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/runs/1/metrics.json")
        except OSError:
            raise ValueError("cannot close the run") from None
    except ValueError as e:
        e.__suppress_context__ = False
        assert describe_error(e) == "No space left on device while writing /runs/1/metrics.json"


def test_a_status_file_that_cannot_be_written_never_hides_the_jobs_own_error(tmp_path, monkeypatch, caplog):
    from colorization.runs.status import JobStatus

    def no_room(self, run_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / STATUS_FILE))

    def fail(cfg):
        raise ValueError("Invalid learning rate: -1")

    monkeypatch.setattr(JobStatus, "write", no_room)
    with pytest.raises(ValueError, match="learning rate"):
        run_job(_cfg(tmp_path), fail)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    full = f"could not write {STATUS_FILE}: No space left on device while writing {tmp_path / STATUS_FILE}"
    # Once when the job starts (its `running` status), once when it ends.
    assert errors == [full, full, "job failed: ValueError: Invalid learning rate: -1"]
    # And a job that passed still returns its value.
    assert run_job(_cfg(tmp_path), lambda cfg: {"metrics": {"val/psnr": 20.0}}) == 20.0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_outside_the_trainer_ends_the_job_terminated(tmp_path, signum, code):
    def killed(cfg):
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises first
        return {}

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(SystemExit) as stopped:
        run_job(_cfg(tmp_path), killed)
    assert (stopped.value.code, type(stopped.value)) == (code, JobTerminated)
    status = _status(tmp_path)
    assert (status["status"], status["error"]) == ("terminated", f"terminated by {signal.Signals(signum).name}")
    assert status["wall_time_s"] < 5
    assert {s: signal.getsignal(s) for s in handlers} == handlers, "the previous handlers are back"


def test_a_job_that_finished_although_a_signal_came_is_ok_but_stops(tmp_path):
    # Lightning records a SIGTERM during the last batch and finishes; the job is done, the process still stops.
    def finished_under_lightning(cfg):
        watch_handler = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, lambda s, f: watch_handler(s, f))  # as Lightning's composed handler does
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            signal.signal(signal.SIGTERM, watch_handler)
        return {"metrics": {"val/psnr": 20.0}}

    with pytest.raises(JobTerminated) as stopped:
        run_job(_cfg(tmp_path), finished_under_lightning)
    assert stopped.value.code == 143
    assert _status(tmp_path)["status"] == "ok"


def test_a_job_says_running_with_its_process_while_it_runs(tmp_path):
    """From its start a job's status names its process (host, pid, the pid's start time), so a resume can tell a
    job whose driver was killed (status still `running`, process gone) from one that runs."""
    import socket

    from colorization.runs.process import process_started

    seen = {}

    def task(cfg):
        seen.update(_status(tmp_path))
        return {"metrics": {"val/psnr": 20.0}}

    run_job(_cfg(tmp_path), task)
    assert seen["status"] == "running" and seen["ended_at"] is None
    assert (seen["pid"], seen["node"]) == (os.getpid(), socket.gethostname())
    assert seen["process_started"] == process_started(os.getpid()) is not None
    final = _status(tmp_path)
    assert final["status"] == "ok" and final["pid"] == os.getpid() and final["started_at"] == seen["started_at"]
