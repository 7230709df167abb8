"""What a launcher runs of the jobs Hydra's sweeper hands it: every job of a new sweep (recorded in ``sweep.json``),
or, when ``colorization resume`` continues the sweep, each job as its plan says (:mod:`colorization.runs.sweep_resume`).

Both launchers (sequential, gpus) call :func:`jobs_to_launch` first and run only the jobs whose ``overrides`` is not
``None``; a job kept as it is gets its :class:`~hydra.core.utils.JobReturn` from its status (:func:`kept_return`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig

from colorization.runs.status import JobStatus as RunStatus
from colorization.runs.sweep_dir import RESUME_FAILED_ENV, SweepDirRefused, read_record, record_jobs, resuming
from colorization.runs.sweep_resume import RESTART, RESUME, JobPlan, move_attempt_aside, plan_job, resume_overrides
from colorization.runs.sweep_stop import job_dir

__all__ = ["LaunchJob", "jobs_to_launch", "kept_return"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchJob:
    """Job ``idx`` as the sweeper gave it (``given``), what to run (``overrides``; ``None``: nothing, the job is
    kept as it is) and its dir; ``plan`` when the sweep is being resumed."""

    idx: int
    given: list[str]
    overrides: list[str] | None
    dir: Path
    plan: JobPlan | None = None


def _plan(config: DictConfig, idx: int, given: list[str], recorded: dict[str, dict], directory: Path,
          rerun_failed: bool) -> LaunchJob:
    before = recorded.get(str(idx), {}).get("overrides")
    if before is not None and list(before) != list(given):
        raise SweepDirRefused(f"cannot resume {config.hydra.sweep.dir}: job {idx} was {' '.join(before)!r} but the "
                              f"sweep's command now makes it {' '.join(given)!r} (were config files changed?)")
    plan = plan_job(directory, idx, given, rerun_failed)
    log.info("\t%s", plan.describe())
    if plan.action == RESUME:
        return LaunchJob(idx, given, resume_overrides(given), directory, plan)
    if plan.action == RESTART:
        move_attempt_aside(directory)
    return LaunchJob(idx, given, list(given) if plan.runs else None, directory, plan)


def jobs_to_launch(config: DictConfig, job_overrides: Sequence[Sequence[str]], initial_job_idx: int,
                   load_job_config: Callable[[int, Sequence[str]], DictConfig]) -> list[LaunchJob]:
    """The jobs of this launch (numbers from ``initial_job_idx``), recorded in the sweep's ``sweep.json``; when
    the sweep is being resumed, each with its plan (ok jobs kept, interrupted ones continued, ...).
    ``load_job_config(idx, overrides)`` composes a job's config (only needed for a custom ``hydra.sweep.subdir``)."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    given = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
    dirs = {idx: job_dir(config, idx, lambda i=idx, o=o: load_job_config(i, o)) for idx, o in given}
    if not resuming(sweep_dir):
        record_jobs(sweep_dir, [(idx, o, dirs[idx]) for idx, o in given])
        return [LaunchJob(idx, o, o, dirs[idx]) for idx, o in given]
    recorded = (read_record(sweep_dir) or {}).get("jobs", {})
    rerun_failed = os.environ.get(RESUME_FAILED_ENV) == "1"
    log.info("resuming the sweep in %s:", sweep_dir)
    jobs = [_plan(config, idx, o, recorded, dirs[idx], rerun_failed) for idx, o in given]
    record_jobs(sweep_dir, [(idx, o, dirs[idx]) for idx, o in given])
    return jobs


def kept_return(job: LaunchJob, config: DictConfig) -> JobReturn:
    """The return of a job kept as it is: its optimised metric from its status (NaN when it has none, as
    :func:`colorization.runs.job.run_job` returns for a failed job)."""
    status = RunStatus.read(job.dir)
    metric = config.get("optimized_metric")
    value = status.metrics.get(metric) if status is not None and metric else None
    return JobReturn(overrides=job.given, cfg=config, hydra_cfg=config, working_dir=os.getcwd(),
                     status=JobStatus.COMPLETED, _return_value=float(value) if value is not None else math.nan)
