"""What continuing a sweep does with each of its jobs, decided from the job's own dir.

=====================  ===========================================================================================
the job's status       what ``colorization resume`` does
=====================  ===========================================================================================
``ok``                 keeps it as it is (not trained again; its results count in the summary)
``terminated``,        continues it from its own ``checkpoints/last.ckpt`` (``ckpt_path=last``: history and W&B run
``requeued``,          kept), or starts it over when it has no readable checkpoint
``running`` (process
gone), no status
``failed``,            keeps it (a failure to look at, not to repeat blindly); with ``--failed`` starts it over
``diverged``
``not_run``, no dir    runs it
=====================  ===========================================================================================

A job started over begins in an empty dir: what its last attempt left is moved to ``<sweep>/.attempts/<n>.<k>``.
A job whose status says ``running`` while its process still exists stops the resume (:class:`JobStillRunning`).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from colorization.runs.process import still_running
from colorization.runs.status import JobStatus

__all__ = ["ATTEMPTS_DIR", "JobPlan", "JobStillRunning", "move_attempt_aside", "plan_job", "resume_overrides"]

log = logging.getLogger(__name__)

KEEP, RESUME, RESTART, RUN, SKIP = "keep", "resume", "restart", "run", "skip"
ATTEMPTS_DIR = ".attempts"
FAILED = ("failed", "diverged")
INTERRUPTED = ("terminated", "requeued", "running", "incomplete")


class JobStillRunning(SystemExit):
    """A job of the sweep still runs: resuming now would run it twice into one dir. One line, exit code 1."""


@dataclass(frozen=True)
class JobPlan:
    """What a resume does with job ``num``: ``action`` (keep, resume, restart, run, skip), the status it found
    (``None``: no status file), and for ``resume`` the checkpoint it continues from."""

    num: int
    overrides: tuple[str, ...]
    action: str
    status: str | None
    checkpoint: Path | None = None

    @property
    def runs(self) -> bool:
        return self.action in (RESUME, RESTART, RUN)

    def describe(self) -> str:
        """One line for ``--dry-run`` and the sweep's log: ``job 1 (terminated): resume from <ckpt>``."""
        what = {KEEP: "keep its results", SKIP: "keep it (rerun failed jobs with --failed)",
                RESUME: f"resume from {self.checkpoint}", RESTART: "start it over (no readable checkpoint)"
                if self.status not in FAILED else "start it over (--failed)", RUN: "run it"}[self.action]
        return f"job {self.num} ({self.status or 'never started'}): {what}"


def _interrupted(job_dir: Path, num: int, overrides: tuple[str, ...], status: str | None) -> JobPlan:
    from colorization.training.resume import newest_readable_checkpoint  # torch: only when a job was interrupted

    checkpoint = newest_readable_checkpoint(job_dir / "checkpoints")
    return JobPlan(num, overrides, RESUME if checkpoint is not None else RESTART, status, checkpoint)


def plan_job(job_dir: Path, num: int, overrides: list[str] | tuple[str, ...], rerun_failed: bool) -> JobPlan:
    """The plan for job ``num`` whose dir is ``job_dir`` (see the module's table); :class:`JobStillRunning` when
    its status says running and its process is still there."""
    overrides = tuple(overrides)
    status = JobStatus.read(job_dir)
    if status is None:
        started = job_dir.is_dir() and any(p.name != ".hydra" for p in job_dir.iterdir())
        return _interrupted(job_dir, num, overrides, None) if started else JobPlan(num, overrides, RUN, None)
    if status.status == "ok":
        return JobPlan(num, overrides, KEEP, status.status)
    if status.status in FAILED:
        return JobPlan(num, overrides, RESTART if rerun_failed else SKIP, status.status)
    if status.status == "not_run":
        return JobPlan(num, overrides, RUN, status.status)
    if status.status == "running" and still_running(status.node, status.pid, status.process_started,
                                                    status.slurm_job_id):
        where = f"pid {status.pid} on {status.node}" + (f", SLURM job {status.slurm_job_id}"
                                                         if status.slurm_job_id else "")
        raise JobStillRunning(f"job {num} of this sweep is still running ({where}): wait for it to end or stop it, "
                              f"then resume (its dir: {job_dir})")
    return _interrupted(job_dir, num, overrides, status.status)


def resume_overrides(overrides: list[str] | tuple[str, ...]) -> list[str]:
    """A job's overrides to continue it from its own last checkpoint: ``ckpt_path=last`` in place of any other."""
    kept = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != "ckpt_path"]
    return [*kept, "ckpt_path=last"]


def move_attempt_aside(job_dir: Path) -> Path | None:
    """Move what a job's last attempt left (``<sweep>/<n>``) to ``<sweep>/.attempts/<n>.<k>`` (k = 1, 2, ...), so
    the job starts over in an empty dir; return where it went (``None``: nothing there)."""
    if not job_dir.is_dir():
        return None
    attempts = job_dir.parent / ATTEMPTS_DIR
    attempts.mkdir(exist_ok=True)
    k = 1
    while (attempts / f"{job_dir.name}.{k}").exists():
        k += 1
    target = attempts / f"{job_dir.name}.{k}"
    shutil.move(str(job_dir), str(target))
    log.info("job %s starts over: its last attempt moved to %s", job_dir.name, target)
    return target
