"""The job boundary every entry point runs inside: timing, a status file, and failures that don't stop a sweep.

Each job writes ``job_status.json`` into its run dir (status, first line of the error, overrides, wall time,
``started_at``/``ended_at``, the GPUs it was given as ``visible_devices``, the metrics file); the sweep summary
reads these files, so it works for any launcher.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import signal
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from colorization.distributed import RankFailedError, env_global_rank, job_boundary
from colorization.errors import LossDivergedError, cause_chain, user_error
from colorization.integrations.wandb import finish_wandb_run
from colorization.runs.process import this_process
from colorization.runs.status import STATUS_FILE, JobStatus
from colorization.runs.termination import JobTerminated, SignalWatch, exit_code_for, signal_name, slurm_requeue
from colorization.runs.user_errors import log_traceback_to_file

log = logging.getLogger(__name__)



def in_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def _job_info() -> dict[str, Any]:
    try:
        hc = HydraConfig.get()
    except ValueError:
        return {}
    return {
        "job_num": hc.job.get("num"),
        "overrides": list(hc.overrides.task),
        "output_dir": hc.runtime.output_dir,
    }


def _job_name() -> str:
    try:
        return str(HydraConfig.get().job.name)
    except ValueError:
        return "train"


def _num_nodes(cfg: DictConfig) -> int:
    nodes = OmegaConf.select(cfg, "trainer.num_nodes", default=1)
    return int(nodes) if isinstance(nodes, int) else 1


def timestamp() -> str:
    """Now, as ISO 8601 in UTC with microseconds (``2026-11-29T15:43:26.957123+00:00``): jobs of one sweep that ran
    in different processes, or on different nodes, compare by these."""
    return datetime.now(UTC).isoformat()


def _visible_devices() -> str | None:
    """``CUDA_VISIBLE_DEVICES`` as the job found it (``"1"``, ``"0,1"``; ``None`` when unset: every GPU)."""
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def _disk_full(e: BaseException) -> OSError | None:
    """The "no space left" error behind ``e`` (its cause chain, then what it was raised while handling), if any."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [e]
    while todo:
        x = todo.pop(0)
        if x in seen:
            continue
        seen.append(x)
        if isinstance(x, OSError) and x.errno == errno.ENOSPC:
            return x
        todo += [y for y in (x.__cause__, x.__context__) if y is not None]
    return None


def describe_error(e: BaseException) -> str:
    """One line for the summary: the root cause, not a wrapper (Hydra's InstantiationException says only
    "Error in call to target ..."; the TypeError under it says what is wrong). Where this project raised an error
    of its own on the way down, that one is the line: it was written to name the option and the way out, while a
    library's error under it names only the symptom (e.g. huggingface_hub's "offline mode is enabled").

    A full disk anywhere under ``e`` wins: ``No space left on device while writing <path>`` (the path is the
    ``OSError``'s filename, which the project's writers set to the file they were writing), whatever error the
    full disk caused next."""
    full = _disk_full(e)
    if full is not None:
        where = f" while writing {full.filename}" if full.filename else ""
        return f"No space left on device{where}"
    if isinstance(e, JobTerminated):
        return str(e)
    chain = cause_chain(e)
    ours = [x for x in chain if type(x).__module__.startswith("colorization.")]
    cause = ours[-1] if ours else chain[-1]
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"


def _choice(group: str, cfg: DictConfig) -> str | None:
    """The config option a job ran with (``unet_imagenet``), falling back to the registry name (``unet``)."""
    try:
        choice = HydraConfig.get().runtime.choices.get(group)
    except ValueError:
        choice = None
    return choice or OmegaConf.select(cfg, f"{group}.name")


def write_status(output_dir: Path, status: dict[str, Any]) -> bool:
    """Write ``job_status.json``; on failure say so plainly and return False. Writing the status must never hide
    the job's own result or error (a full disk fails the job first, then this write)."""
    try:
        JobStatus.from_dict(status).write(output_dir)
        return True
    except OSError as e:
        log.error("could not write %s: %s", STATUS_FILE, describe_error(e))
        return False


def _stop_signal(e: BaseException, watch: SignalWatch) -> int | None:
    """The signal that ended the job: the one the watch received, else the one a ``JobTerminated`` names, else
    SIGINT for a bare ``KeyboardInterrupt``; ``None`` when no signal is behind ``e``."""
    if watch.signum is not None:
        return watch.signum
    if isinstance(e, JobTerminated):
        return e.signum
    return int(signal.SIGINT) if isinstance(e, KeyboardInterrupt) else None


def run_job(cfg: DictConfig, task: Callable[[DictConfig], dict[str, Any]]) -> float | None:
    """Run ``task(cfg) -> result`` and record its status; return the value of ``cfg.optimized_metric``.

    In a multirun a failing job is logged with its traceback, marked failed in its status file, and returns
    NaN (Optuna counts that as a failed trial) so the sweep goes on; a single run re-raises.

    SIGTERM or SIGINT (:mod:`colorization.runs.termination`) marks the job ``terminated`` (the signal in
    ``error``) and raises :class:`JobTerminated`: the process exits ``128 + signum`` and a sweep launches nothing
    more. A job that finished although a signal arrived in its last steps is ``ok``, and still stops the sweep.
    The W&B run closes with the job's exit code (0 ok, 1 failed, ``128 + signum`` terminated). A job that SLURM
    requeued while it ran (pre-emption, time limit) is ``requeued`` instead of failed or terminated, until the
    requeued run overwrites the file; it stops the same way.

    Under DDP every rank runs this; only rank 0 writes the status file. A rank other than 0 always re-raises, so
    it exits non-zero and its peers (and ``srun``) see the failure instead of waiting for it. The job boundary
    (:class:`colorization.distributed.job_boundary`) reaps child ranks, destroys the process group and restores
    the environment, so the next job of a sweep starts clean.
    """
    with SignalWatch() as watch:
        return _run_watched(cfg, task, watch)


def _run_watched(cfg: DictConfig, task: Callable[[DictConfig], dict[str, Any]], watch: SignalWatch) -> float | None:
    output_dir = Path(cfg.paths.output_dir)
    rank = env_global_rank()
    info = _job_info()
    info.update(model=_choice("model", cfg), loss=_choice("loss", cfg), visible_devices=_visible_devices(),
                **this_process())
    log.info("job start: rank %d, model %s, loss %s, dir %s", rank, info["model"], info["loss"], output_dir)
    start = time.time()
    info["started_at"] = timestamp()
    boundary = job_boundary()
    if rank == 0:
        # Until the job ends: a status left `running` by a process that is gone (kill -9, a dead node) tells
        # `colorization resume` the job was interrupted (colorization.runs.process.still_running).
        output_dir.mkdir(parents=True, exist_ok=True)
        write_status(output_dir, {**info, "status": "running"})

    def ended(status: str, **fields: Any) -> dict[str, Any]:
        return {"world_size": boundary.world_size, "num_nodes": _num_nodes(cfg), **info, "status": status,
                **fields, "wall_time_s": round(time.time() - start, 2), "ended_at": timestamp()}

    def stopped(status: str, error: str) -> dict[str, Any]:
        """The status of a job that did not finish; ``requeued`` when SLURM queued it to run again (a pre-emption
        or time limit: submitit ends it with ``sys.exit(-1)``, SLURM then sends SIGTERM), which is no failure: the
        requeued run resumes and overwrites this file. The error stays, as what stopped this run."""
        requeue = slurm_requeue()
        if requeue is None:
            return ended(status, error=error)
        log.warning("%s: it runs again and overwrites %s (this run stopped with %s)", requeue, STATUS_FILE, error)
        return ended("requeued", error=error, requeue=requeue)

    try:
        with boundary:
            result = task(cfg)
    except BaseException as e:
        watch.quiet()  # a second Ctrl-C must not cut the status file or the W&B run short
        signum = _stop_signal(e, watch)
        if signum is not None:
            error = f"terminated by {signal_name(signum)}"
            log.error("job %s after %.1f s", error, time.time() - start)
            if rank == 0:
                write_status(output_dir, stopped("terminated", error))
            finish_wandb_run(exit_code_for(signum))
            if isinstance(e, JobTerminated):
                raise
            raise JobTerminated(signum) from e
        error = describe_error(e)
        # A diverged loss is the run's result, not a crash: its own status, one line, no traceback on the console.
        diverged = any(isinstance(x, LossDivergedError) for x in cause_chain(e))
        if boundary.failed_ranks and not diverged:
            # Rank 0's own error is then only the echo (e.g. "connection closed by peer"); name the cause.
            child, code = boundary.failed_ranks[0]
            error = f"RankFailedError: local rank {child} exited with code {code} (see {_job_name()}_rank{child}.log)"
            if not isinstance(e, RankFailedError):
                error += f"; rank 0 then stopped with {type(e).__name__}"
        if rank == 0:
            write_status(output_dir, stopped("diverged" if diverged else "failed", error))
        finish_wandb_run(1)
        if not isinstance(e, Exception):
            raise  # sys.exit from inside the job (e.g. submitit after a pre-emption requeue): its exit code stands
        if diverged and rank == 0 and not in_multirun():
            log.error("job diverged: %s", error)
            log_traceback_to_file(log, e)
            raise SystemExit(1) from e
        if rank != 0:
            # Into this rank's own log file too: its stderr may be gone (a re-launched child, an srun task).
            log.error("job failed on rank %d: %s\n%s", rank, error, traceback.format_exc())
            raise
        if not in_multirun():
            log.error("job failed: %s", error)
            raise
        if diverged or user_error(e) is not None:  # one line on the console, the traceback in the job's log file
            log.error("job %s: %s", "diverged" if diverged else "failed", error)
            log_traceback_to_file(log, e)
        else:
            log.error("job failed: %s\n%s", error, traceback.format_exc())
        return math.nan
    log.info("job done: rank %d, model %s, loss %s, %.1f s", rank, info["model"], info["loss"], time.time() - start)
    if rank == 0:
        write_status(output_dir, ended("ok", **result))
    if watch.signum is not None:
        # The signal came during the last steps and Lightning finished them; the job is done, the process stops.
        watch.quiet()
        log.warning("job finished, but %s arrived: stopping", signal_name(watch.signum))
        finish_wandb_run(exit_code_for(watch.signum))
        raise JobTerminated(watch.signum)
    finish_wandb_run(0)
    metric_name = cfg.get("optimized_metric")
    value = result.get("metrics", {}).get(metric_name) if metric_name else None
    return float(value) if value is not None else None
