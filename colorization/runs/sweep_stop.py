"""A sweep that SIGTERM or SIGINT stops: nothing more starts, every job says what became of it, the summary is
still written, and the process exits ``128 + signum``.

The job the signal stopped marks itself ``terminated`` (:func:`colorization.runs.job.run_job`); one stopped
before its own ``run_job`` began gets that status here. Each job that never started gets a ``job_status.json``
with ``"status": "not_run"``, its overrides and its model and loss, so it is a row of ``jobs.csv`` and its
configuration a row of ``summary.csv`` even with no finished job. Used by the sequential launcher
(:mod:`colorization.runs.sequential_launcher`) and the Ray launcher (:mod:`colorization.runs.gpu_launcher`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from colorization.runs.job import describe_error, timestamp, write_status
from colorization.runs.status import STATUS_FILE, JobStatus
from colorization.runs.termination import JobTerminated, signal_name

log = logging.getLogger(__name__)

NOT_RUN, TERMINATED = "not_run", "terminated"
# The sweep subdir Hydra's default config names each job's dir by: cheap to fill in for jobs that never started.
_PLAIN_SUBDIR = "${hydra.job.num}"


def job_dir(config: DictConfig, idx: int, load_job_config: Callable[[], DictConfig]) -> Path:
    """Job ``idx``'s run dir: ``<sweep dir>/<idx>`` for Hydra's default subdir; otherwise the job's own config
    (``load_job_config``, slower: it composes the job's config) says."""
    sweep = OmegaConf.to_container(config.hydra.sweep, resolve=False)
    if isinstance(sweep, dict) and sweep.get("subdir") == _PLAIN_SUBDIR:
        return Path(str(config.hydra.sweep.dir)) / str(idx)
    job_cfg = load_job_config()
    return Path(str(job_cfg.hydra.sweep.dir)) / str(job_cfg.hydra.sweep.subdir)


def choice(overrides: Sequence[str], group: str, config: DictConfig) -> str | None:
    """The option of config group ``group`` a job was to run with: its ``group=option`` override, else the sweep's
    base choice."""
    for o in OverridesParser.create().parse_overrides(list(overrides)):
        if o.key_or_group == group and not o.is_delete():
            return str(o.value())
    return OmegaConf.select(config, f"hydra.runtime.choices.{group}", default=None)


def mark(config: DictConfig, idx: int, overrides: Sequence[str], status: str, error: str,
         load_job_config: Callable[[], DictConfig]) -> None:
    """Write job ``idx``'s status file unless the job wrote how it ended itself (a job whose process was killed
    before it could, e.g. a Ray worker cancelled by force, still says ``running``: that is overwritten, keeping
    when and where it started)."""
    out = job_dir(config, idx, load_job_config)
    existing = JobStatus.read(out)
    if existing is None and (out / STATUS_FILE).exists() or existing is not None and existing.status != "running":
        return
    if status == TERMINATED and not out.is_dir():  # stopped before Hydra made its dir: it never started
        status, error = NOT_RUN, error.replace("terminated by", "not run: the sweep was stopped by")
    started = existing.to_dict() if existing is not None else {}
    write_status(out, {**started, "job_num": idx, "overrides": list(overrides), "output_dir": str(out),
                       "model": choice(overrides, "model", config), "loss": choice(overrides, "loss", config),
                       "status": status, "error": error, "ended_at": timestamp()})


def stop_sweep(config: DictConfig, callbacks: Any, signum: int, stopped: Sequence[tuple[int, Sequence[str]]],
               never_started: Sequence[tuple[int, Sequence[str]]],
               load_job_config: Callable[[int, Sequence[str]], DictConfig]) -> NoReturn:
    """Mark ``stopped`` jobs (``(job number, overrides)``) terminated and ``never_started`` ones not_run, run the
    sweep's end callbacks (the summary), and raise :class:`JobTerminated` (exit status ``128 + signum``)."""
    name = signal_name(signum)
    log.error("sweep stopped by %s: %d job(s) not run", name, len(never_started))
    for status, jobs, error in ((TERMINATED, stopped, f"terminated by {name}"),
                                (NOT_RUN, never_started, f"not run: the sweep was stopped by {name}")):
        for idx, overrides in jobs:
            mark(config, idx, overrides, status, error, lambda i=idx, o=overrides: load_job_config(i, o))
    if callbacks is not None:
        try:
            callbacks.on_multirun_end(config=config)
        except SystemExit:
            pass  # the summary's "a job did not succeed" exit: the signal's exit status says more
        except Exception as e:  # noqa: BLE001 - the sweep ends with the signal's status whatever the summary did
            log.error("could not write the sweep summary: %s", describe_error(e))
    raise JobTerminated(signum)
