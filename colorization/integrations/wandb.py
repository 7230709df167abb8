"""Every Weights & Biases call of the project: the logger (offline unless the user is logged in, never a login
prompt, never a run lost to a W&B that does not answer), the sample images, the test table, where a run lives
(all of it in the run dir), and closing the run at the end of a job."""

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
from colorization.io.http_probe import probe_url

log = logging.getLogger(__name__)

# Beside the W&B runs of a run dir: the id of its run, so a resumed job continues it.
RUN_ID_FILE = "run_id"
# W&B's server when WANDB_BASE_URL does not name another (a W&B Server install).
DEFAULT_BASE_URL = "https://api.wandb.ai"
# W&B's folders (environment variable -> its folder under <run dir>/wandb): the data folder holds the staged
# pictures of logged tables, the cache its service's logs, the artifact folder what a run downloads.
WANDB_FOLDERS = {"WANDB_DATA_DIR": "data", "WANDB_CACHE_DIR": "cache", "WANDB_ARTIFACT_DIR": "artifacts"}


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


def keep_wandb_files_in(save_dir: str | Path) -> None:
    """Point W&B's own folders into ``<save_dir>/wandb``, so everything a run logs lives in its run dir.

    By default W&B stages a table's pictures under ``~/.local/share/wandb/artifacts/staging`` (the offline run
    then holds only references to them), its service logs under ``~/.cache/wandb`` and downloads under
    ``./artifacts``: a run dir copied off a compute node, or synced after HOME was cleaned, lost its pictures.
    Environment variables are the only switch W&B has for these; the job boundary restores the environment after
    each job, so the next job of a sweep points them into its own dir.
    """
    for variable, folder in WANDB_FOLDERS.items():
        os.environ[variable] = str(Path(save_dir) / "wandb" / folder)


def wandb_unreachable(wait_s: float) -> str | None:
    """Why W&B's server (``WANDB_BASE_URL``, else api.wandb.ai) cannot be used online, as a short phrase, or
    ``None`` when it answers within ``wait_s`` seconds (any HTTP status: the server is there)."""
    url = os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    answer = probe_url(url, wait_s)
    return None if isinstance(answer, int) else answer


def open_wandb_run(init: dict[str, Any], mode: str, online_wait_s: float) -> Any:
    """``wandb.init(**init)`` in ``mode``, never costing the run: online only when W&B answers within
    ``online_wait_s`` seconds (the probe, and then ``wandb.init``'s own ``init_timeout``); otherwise one warning
    line and the run goes on offline in the same dir, named with the command that uploads it later."""
    import wandb

    settings = wandb.Settings(init_timeout=online_wait_s)
    if mode == "online":
        reason = wandb_unreachable(online_wait_s)
        if reason is None:
            try:
                return wandb.init(mode="online", settings=settings, **init)
            except (wandb.Error, OSError, TimeoutError) as e:  # no answer in time, a refused key, a proxy's 404
                reason = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
                wandb.teardown()  # W&B's service still holds the run id that failed; a fresh one lets it go
        run = wandb.init(mode="offline", settings=settings, **init)
        offline_dir = Path(run.dir).parent  # run.dir is <offline-run dir>/files
        log.warning("W&B is not reachable online (%s): this run logs offline in %s; upload it once online with "
                    "`wandb sync %s`", reason, offline_dir, offline_dir)
        return run
    return wandb.init(mode=mode, settings=settings, **init)


def wandb_logger(save_dir: str, ckpt_path: str | None = None, online_wait_s: float = 15.0, log_model: bool = False,
                 **kwargs: Any) -> WandbLogger:
    """A Lightning ``WandbLogger`` whose run lives in the run dir (``<save_dir>/wandb``, W&B's staging, cache and
    artifact folders included: :func:`keep_wandb_files_in`).

    Offline by default; ``WANDB_MODE=online`` or a ``wandb login`` switches to online, when W&B answers within
    ``online_wait_s`` seconds (:func:`open_wandb_run`; else the run goes on offline). Extra kwargs go to
    ``wandb.init`` (project, entity, group, tags, job_type, ...). The run id is kept in
    ``<save_dir>/wandb/run_id``; a job that resumes in the same dir (``ckpt_path`` set, or a SLURM requeue)
    continues that W&B run (``id=<that id>``, ``resume="allow"``) instead of opening another; a fresh job opens a
    new run (no resume lookup). An ``id`` in kwargs wins, and is continued when W&B knows it.

    Rank zero opens the run here, before the trainer exists, so that a W&B that does not answer is known (and
    left) before anything trains; the other ranks' loggers never open one.
    """
    mode = wandb_mode()
    # Never wait on a terminal for a key: an offline run needs none, and an online run without one goes offline.
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    root = Path(save_dir)
    root.mkdir(parents=True, exist_ok=True)
    keep_wandb_files_in(root)
    given = kwargs.pop("id", None)
    run_id = given or (stored_run_id(root) if _resuming(root, ckpt_path) else None)
    resume = "allow" if run_id is not None else None
    if run_id is None:
        run_id = secrets.token_hex(4)  # 8 characters from [0-9a-f], as W&B's own ids: unique per project
    elif not given:
        log.info("W&B: continuing run %s", run_id)
    init = {"dir": str(root), "id": run_id, "resume": resume, **kwargs}
    if env_global_rank() != 0:  # rank zero owns the run (the other ranks' loggers never open it)
        return WandbLogger(save_dir=save_dir, id=run_id, log_model=log_model, **kwargs)
    (root / "wandb").mkdir(exist_ok=True)
    (root / "wandb" / RUN_ID_FILE).write_text(run_id + "\n")
    run = open_wandb_run(init, mode, online_wait_s)
    # What Lightning's logger does to a run it opens itself: every value is plotted against the trainer's step.
    run.define_metric("trainer/global_step")
    run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
    return WandbLogger(save_dir=save_dir, id=run_id, experiment=run, log_model=log_model, **kwargs)


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
    """Where each W&B run of the trainer lives, for the end-of-run table: ``<dir> (<url>)`` online,
    ``<dir> (offline: upload it with `wandb sync <dir>`)`` offline."""
    out = []
    for logger in wandb_loggers(trainer):
        run = logger.experiment
        where = Path(getattr(run, "dir", None) or logger.save_dir).parent  # run.dir is <W&B run dir>/files
        offline = getattr(run, "offline", False)
        out.append(f"{where} ({f'offline: upload it with `wandb sync {where}`' if offline else run.url})")
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
                  name: str | None = None, online_wait_s: float = 15.0) -> Path:
    """One W&B run of job type ``study`` in ``group`` (the sweep's jobs' group): each PNG of ``images``
    (key -> path) as an image and ``study/summary`` as a table (``table_columns``, one row per group).

    The run lives in ``<save_dir>/wandb`` and follows :func:`wandb_logger`'s rules (offline unless logged in or
    ``WANDB_MODE`` says otherwise, online only when W&B answers within ``online_wait_s`` s, never a prompt).
    Returns the run's directory (``.../wandb/offline-run-*`` or ``run-*``), after the run is closed.
    """
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    keep_wandb_files_in(save_dir)
    init = {"project": project, "entity": entity, "group": group, "job_type": "study", "name": name,
            "dir": str(save_dir), "reinit": "create_new"}
    run = open_wandb_run(init, wandb_mode(), online_wait_s)
    try:
        run.log({key: wandb.Image(str(path)) for key, path in images.items()})
        run.log({"study/summary": wandb.Table(columns=list(table_columns), data=[list(r) for r in table_rows])})
        run_dir = Path(run.dir).parent  # run.dir is <run dir>/files
    finally:
        run.finish()
    return run_dir
