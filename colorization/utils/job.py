"""The job boundary every entry point runs inside: timing, a status file, and failures that don't stop a sweep.

Each job writes ``job_status.json`` into its run dir (status, first line of the error, overrides, wall time,
the metrics file); the sweep summary reads these files, so it works for any launcher.
"""

from __future__ import annotations

import json
import logging
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

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


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def _finish_wandb() -> None:
    # Each sweep job must be its own W&B run: close whatever run this job opened, pass or fail.
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=0)
    except Exception as e:  # noqa: BLE001 - a logging hiccup must not mask the job's own result
        log.warning("wandb.finish failed: %s", e)


def run_job(cfg: DictConfig, task: Callable[[DictConfig], dict[str, Any]]) -> float | None:
    """Run ``task(cfg) -> result`` and record its status; return the value of ``cfg.optimized_metric``.

    In a multirun a failing job is logged with its traceback, marked failed in its status file, and returns
    NaN (Optuna counts that as a failed trial) so the sweep goes on; a single run re-raises.
    """
    output_dir = Path(cfg.paths.output_dir)
    info = _job_info()
    info.update(model=OmegaConf.select(cfg, "model.name"), loss=OmegaConf.select(cfg, "loss.name"))
    start = time.time()
    try:
        result = task(cfg)
    except Exception as e:
        lines = str(e).strip().splitlines() or [""]
        error = f"{type(e).__name__}: {lines[0]}"
        write_json(output_dir / STATUS_FILE, {**info, "status": "failed", "error": error,
                                              "wall_time_s": round(time.time() - start, 2)})
        if not in_multirun():
            raise
        log.error("job failed: %s\n%s", error, traceback.format_exc())
        return math.nan
    finally:
        _finish_wandb()
    write_json(output_dir / STATUS_FILE, {**info, "status": "ok", "wall_time_s": round(time.time() - start, 2),
                                          **result})
    metric_name = cfg.get("optimized_metric")
    value = result.get("metrics", {}).get(metric_name) if metric_name else None
    return float(value) if value is not None else None
