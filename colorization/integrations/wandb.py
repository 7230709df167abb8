"""Every Weights & Biases call of the project: the logger (offline unless the user is logged in, never a login
prompt), the sample images, the test table, where a run lives, and closing the run at the end of a job."""

from __future__ import annotations

import logging
import netrc
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from colorization.distributed.rank import env_global_rank

log = logging.getLogger(__name__)

# Beside the W&B runs of a run dir: the id of its run, so a resumed job continues it.
RUN_ID_FILE = "run_id"


def wandb_logged_in() -> bool:
    """True when an API key is at hand (environment or ``~/.netrc`` as ``wandb login`` writes it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        hosts = netrc.netrc(str(path)).hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def wandb_mode() -> str:
    """``WANDB_MODE`` when the user set it, else online when logged in, else offline."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode
    return "online" if wandb_logged_in() else "offline"


def stored_run_id(save_dir: str | Path) -> str | None:
    """The W&B run id this run dir's last job used (``<save_dir>/wandb/run_id``), or ``None``."""
    path = Path(save_dir) / "wandb" / RUN_ID_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _resuming(save_dir: Path, ckpt_path: str | None) -> bool:
    """Whether this job continues one that ran in the same dir: it was given a checkpoint (``ckpt_path=last`` or a
    path), or SLURM's requeue left Lightning's ``hpc_ckpt_*.ckpt`` there (Lightning then resumes by itself)."""
    return ckpt_path is not None or any(save_dir.glob("hpc_ckpt_*.ckpt"))


def wandb_logger(save_dir: str, ckpt_path: str | None = None, **kwargs: Any) -> WandbLogger:
    """A Lightning ``WandbLogger`` whose files live in the run dir (``<save_dir>/wandb``).

    Offline by default; ``WANDB_MODE=online`` or a ``wandb login`` switches to online. Extra kwargs go to
    ``wandb.init`` (group, tags, job_type, ...). The run id is kept in ``<save_dir>/wandb/run_id``; a job that
    resumes in the same dir (``ckpt_path`` set, or a SLURM requeue) continues that W&B run (``id=<that id>``,
    ``resume="allow"``) instead of opening another one. An ``id`` in kwargs wins.
    """
    mode = wandb_mode()
    # Never wait on a terminal for a key: an offline run needs none, and an online run without one should fail.
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    root = Path(save_dir)
    root.mkdir(parents=True, exist_ok=True)
    run_id = kwargs.pop("id", None) or (stored_run_id(root) if _resuming(root, ckpt_path) else None)
    if run_id is None:
        run_id = secrets.token_hex(4)  # 8 characters from [0-9a-f], as W&B's own ids: unique per project
    else:
        log.info("W&B: continuing run %s", run_id)
    if env_global_rank() == 0:  # rank zero owns the run (the other ranks' loggers never open it)
        (root / "wandb").mkdir(exist_ok=True)
        (root / "wandb" / RUN_ID_FILE).write_text(run_id + "\n")
    return WandbLogger(save_dir=save_dir, mode=mode, offline=(mode == "offline"), id=run_id, resume="allow",
                       **kwargs)


def wandb_loggers(trainer: Any) -> list[WandbLogger]:
    """The trainer's W&B loggers (none with ``logger=none`` / csv / tensorboard)."""
    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def log_sample_images(trainer: Any, rows: Sequence[np.ndarray], epoch: int) -> None:
    """Each uint8 ``[H, 3W, 3]`` row (gray | prediction | truth) under ``val/samples``, one caption per image."""
    captions = [f"val image {i}: gray | prediction | truth (epoch {epoch})" for i in range(len(rows))]
    for logger in wandb_loggers(trainer):
        logger.log_image(key="val/samples", images=list(rows), caption=captions, step=trainer.global_step)


@rank_zero_only
def log_test_table(trainer: Any, metrics: dict[str, float]) -> None:
    """The test metrics as one W&B table ``test/metrics``: metric | model | gray baseline."""
    loggers = wandb_loggers(trainer)
    if not loggers or not metrics:
        return
    rows = [[key, value, metrics.get(f"{key}_gray")] for key, value in sorted(metrics.items())
            if not key.endswith("_gray")]
    for logger in loggers:
        logger.log_table(key="test/metrics", columns=["metric", "model", "gray baseline"], data=rows)


@rank_zero_only
def log_test_images_table(
    trainer: Any, ids: Sequence[str], panels: dict[str, np.ndarray], values: dict[str, Sequence[float]]
) -> None:
    """The W&B table ``test/images``: one row per test image, ``image`` (its id), the pictures ``gray``,
    ``prediction``, ``truth`` (``panels[name]``: uint8 ``[N, H, W, 3]``) and the per-image metrics ``values``
    (column name -> N floats, in the given order)."""
    loggers = wandb_loggers(trainer)
    if not loggers or not ids:
        return
    import wandb  # a W&B logger is configured, so the package is there

    names = ("gray", "prediction", "truth")
    columns = ["image", *names, *values]
    rows = [[image_id, *(wandb.Image(panels[name][i]) for name in names), *(float(v[i]) for v in values.values())]
            for i, image_id in enumerate(ids)]
    for logger in loggers:
        logger.log_table(key="test/images", columns=columns, data=rows)


def describe_wandb_runs(trainer: Any) -> list[str]:
    """Where each W&B run of the trainer lives, for the end-of-run table: ``<dir> (offline: ... | url)``."""
    out = []
    for logger in wandb_loggers(trainer):
        run = logger.experiment
        where = getattr(run, "dir", None) or logger.save_dir
        mode = "offline: `wandb sync` it to upload" if getattr(run, "offline", False) else getattr(run, "url", "")
        out.append(f"{Path(where).parent} ({mode})")
    return out


def finish_wandb_run(exit_code: int = 0) -> None:
    """Close the W&B run this process opened, if any, with the job's exit code (0 ok, 1 failed, ``128 + signum``
    terminated: W&B shows a non-zero one as failed): each sweep job must be its own W&B run, pass or fail."""
    wandb = sys.modules.get("wandb")  # never imported: no run was opened, and importing it costs seconds
    if wandb is None:
        return
    try:
        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
    except Exception as e:  # noqa: BLE001 - a logging hiccup must not mask the job's own result
        log.warning("wandb.finish failed: %s", e)


def log_study_run(save_dir: str | Path, group: str, images: dict[str, Path], table_columns: Sequence[str],
                  table_rows: Sequence[Sequence[Any]], project: str = "colorization", entity: str | None = None,
                  name: str | None = None) -> Path:
    """One W&B run of job type ``study`` in ``group`` (the sweep's jobs' group): each PNG of ``images``
    (key -> path) as an image and ``study/summary`` as a table (``table_columns``, one row per group).

    The run lives in ``<save_dir>/wandb`` and follows :func:`wandb_logger`'s rules (offline unless logged in or
    ``WANDB_MODE`` says otherwise, never a prompt). Returns the run's directory (``.../wandb/offline-run-*`` or
    ``run-*``), after the run is closed.
    """
    import wandb

    mode = wandb_mode()
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=project, entity=entity, group=group, job_type="study", name=name, dir=str(save_dir),
                     mode=mode, reinit="create_new")
    try:
        run.log({key: wandb.Image(str(path)) for key, path in images.items()})
        run.log({"study/summary": wandb.Table(columns=list(table_columns), data=[list(r) for r in table_rows])})
        run_dir = Path(run.dir).parent  # run.dir is <run dir>/files
    finally:
        run.finish()
    return run_dir
