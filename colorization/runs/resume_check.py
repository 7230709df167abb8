"""A single run with ``ckpt_path`` is checked against the checkpoint's own run before Hydra writes anything.

Hydra writes the run dir's ``.hydra/config.yaml`` (and the job then its status) before the task starts, so a resume
refused inside the job would already have overwritten the finished run's files. :class:`ResumeCheck`, a Hydra
callback (``hydra.callbacks.resume_check``), compares the run's config with the checkpoint and the config it was
trained with (:func:`colorization.training.resume.check_resume_config`) when the run starts: a mismatch ends the
command in one line (exit code 1) with every file untouched; options it accepts with a consequence are named in
warnings once the job's log is open.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from colorization.errors import ConfigError

log = logging.getLogger(__name__)


class ResumeRefused(SystemExit):
    """The checkpoint does not fit this run: its message alone on stderr, exit code 1, nothing written."""


def _checkpoint_of(config: DictConfig, run_dir: Path) -> Path | None:
    ckpt_path = OmegaConf.select(config, "ckpt_path", default=None)
    if ckpt_path in (None, ""):
        return None
    if ckpt_path == "last":
        from colorization.training.resume import newest_readable_checkpoint

        return newest_readable_checkpoint(run_dir / "checkpoints")
    path = Path(str(ckpt_path))
    return path if path.is_file() else None  # a missing file: the job's own check says so, in one line


def resume_warnings(config: DictConfig, run_dir: Path) -> list[str]:
    """Warnings for a run that resumes in ``run_dir`` (none without ``ckpt_path`` or a checkpoint); a
    :class:`ResumeRefused` when the checkpoint does not fit the run."""
    ckpt = _checkpoint_of(config, run_dir)
    if ckpt is None:
        return []
    from colorization.training.resume import check_resume_config

    saved = ckpt.parent.parent / ".hydra" / "config.yaml"
    try:
        run_config = OmegaConf.load(saved) if saved.is_file() else None
    except Exception:  # noqa: BLE001 - an unreadable copy: the network is still compared with the checkpoint's
        run_config = None
    task = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    given = OmegaConf.select(config, "ckpt_path")
    option = f"ckpt_path=last ({ckpt})" if given == "last" else f"ckpt_path={given}"
    try:
        return check_resume_config(task, run_config, str(ckpt), option)
    except ConfigError as e:
        raise ResumeRefused(str(e)) from e


class ResumeCheck(Callback):
    """Hydra callback: a single run's ``ckpt_path`` checked before Hydra writes the run dir (see the module)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.warnings = resume_warnings(config, Path(str(config.hydra.run.dir)).absolute())

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        for warning in self.warnings:
            log.warning("resume: %s", warning)
        self.warnings = []
