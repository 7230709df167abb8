"""The job boundary every entry point runs inside: timing, a status file, and failures that don't stop a sweep.

Each job writes ``job_status.json`` into its run dir (status, first line of the error, overrides, wall time,
``started_at``/``ended_at``, the GPUs it was given as ``visible_devices``, the metrics file); the sweep summary
reads these files, so it works for any launcher.
"""

from __future__ import annotations

import json
import logging
import math
import os
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
from colorization.training.wandb import finish_wandb_run

log = logging.getLogger(__name__)

STATUS_FILE = "job_status.json"


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


def describe_error(e: BaseException) -> str:
    """One line for the summary: the root cause, not a wrapper (Hydra's InstantiationException says only
    "Error in call to target ..."; the TypeError under it says what is wrong). Where this project raised an error
    of its own on the way down, that one is the line: it was written to name the option and the way out, while a
    library's error under it names only the symptom (e.g. huggingface_hub's "offline mode is enabled")."""
    chain = [e]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
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


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def run_job(cfg: DictConfig, task: Callable[[DictConfig], dict[str, Any]]) -> float | None:
    """Run ``task(cfg) -> result`` and record its status; return the value of ``cfg.optimized_metric``.

    In a multirun a failing job is logged with its traceback, marked failed in its status file, and returns
    NaN (Optuna counts that as a failed trial) so the sweep goes on; a single run re-raises.

    Under DDP every rank runs this; only rank 0 writes the status file. A rank other than 0 always re-raises, so
    it exits non-zero and its peers (and ``srun``) see the failure instead of waiting for it. The job boundary
    (:class:`colorization.distributed.job_boundary`) reaps child ranks, destroys the process group and restores
    the environment, so the next job of a sweep starts clean.
    """
    output_dir = Path(cfg.paths.output_dir)
    rank = env_global_rank()
    info = _job_info()
    info.update(model=_choice("model", cfg), loss=_choice("loss", cfg), visible_devices=_visible_devices())
    log.info("job start: rank %d, model %s, loss %s, dir %s", rank, info["model"], info["loss"], output_dir)
    start = time.time()
    info["started_at"] = timestamp()
    boundary = job_boundary()
    try:
        with boundary:
            result = task(cfg)
    except Exception as e:
        error = describe_error(e)
        if boundary.failed_ranks:
            # Rank 0's own error is then only the echo (e.g. "connection closed by peer"); name the cause.
            child, code = boundary.failed_ranks[0]
            error = f"RankFailedError: local rank {child} exited with code {code} (see {_job_name()}_rank{child}.log)"
            if not isinstance(e, RankFailedError):
                error += f"; rank 0 then stopped with {type(e).__name__}"
        if rank == 0:
            write_json(output_dir / STATUS_FILE, {**info, "status": "failed", "error": error,
                                                  "world_size": boundary.world_size, "num_nodes": _num_nodes(cfg),
                                                  "wall_time_s": round(time.time() - start, 2),
                                                  "ended_at": timestamp()})
        if rank != 0:
            # Into this rank's own log file too: its stderr may be gone (a re-launched child, an srun task).
            log.error("job failed on rank %d: %s\n%s", rank, error, traceback.format_exc())
        if not in_multirun() or rank != 0:
            raise
        log.error("job failed: %s\n%s", error, traceback.format_exc())
        return math.nan
    finally:
        finish_wandb_run()
    log.info("job done: rank %d, model %s, loss %s, %.1f s", rank, info["model"], info["loss"], time.time() - start)
    if rank == 0:
        write_json(output_dir / STATUS_FILE, {"world_size": boundary.world_size, "num_nodes": _num_nodes(cfg),
                                              **info, "status": "ok", "wall_time_s": round(time.time() - start, 2),
                                              "ended_at": timestamp(), **result})
    metric_name = cfg.get("optimized_metric")
    value = result.get("metrics", {}).get(metric_name) if metric_name else None
    return float(value) if value is not None else None
