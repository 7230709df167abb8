"""Where a run continues from: ``ckpt_path`` resolved, checked against the run, and the run dir made ready.

``ckpt_path=last`` means this run dir's ``checkpoints/last.ckpt`` (a job SLURM requeues after preemption lands in the
same dir and continues where it stopped); when that file cannot be read (0 bytes, truncated, not an archive), the
newest readable checkpoint beside it, with a warning that names the unreadable file; with none, a fresh start.
An explicit ``ckpt_path=<file>`` must be a ``train.py`` checkpoint of the network this run builds: anything else
is one sentence (a :class:`~colorization.errors.ConfigError` naming the option and the way out) before fitting.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from colorization.errors import ConfigError
from colorization.io.checkpoints import CheckpointError, network_parts, read_checkpoint
from colorization.training.checkpointing import remove_stray_temp_files, unreadable_reason

__all__ = ["check_resume_checkpoint", "lightning_hpc_resume_path", "newest_readable_checkpoint", "prepare_fit",
           "resolve_ckpt_path"]

log = logging.getLogger(__name__)

LAST_CKPT = "last.ckpt"
# Model options that do not change the network's tensors (where its weights came from before training).
_WEIGHT_SOURCE_KEYS = ("pretrained", "weights")


def newest_readable_checkpoint(ckpt_dir: Path) -> Path | None:
    """``ckpt_dir/last.ckpt`` when it can be read; else the most recently written readable ``*.ckpt`` there,
    with a warning naming each unreadable one; ``None`` when there is none (a fresh start)."""
    last = ckpt_dir / LAST_CKPT
    last_problem = unreadable_reason(last) if last.exists() else None
    if last.exists() and last_problem is None:
        return last
    if last_problem is not None:
        log.warning("%s cannot be read (%s); looking for another checkpoint in %s", last, last_problem, ckpt_dir)
    others = [p for p in ckpt_dir.glob("*.ckpt") if p.name != LAST_CKPT and p.is_file()] if ckpt_dir.is_dir() else []
    for path in sorted(others, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True):
        problem = unreadable_reason(path)
        if problem is None:
            if last_problem is not None:
                log.warning("resuming from %s instead of the unreadable %s", path, last)
            return path
        log.warning("%s cannot be read (%s); skipped", path, problem)
    if last_problem is not None:
        log.warning("no readable checkpoint in %s (%s is unreadable): starting from scratch", ckpt_dir, last)
    return None


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """The checkpoint ``trainer.fit`` resumes from: ``ckpt_path`` as given, or for ``last`` this run dir's
    newest readable checkpoint (:func:`newest_readable_checkpoint`), ``None`` for a fresh start."""
    if ckpt_path != "last":
        return ckpt_path
    found = newest_readable_checkpoint(Path(output_dir) / "checkpoints")
    if found is not None:
        log.info("resuming from %s", found)
    return str(found) if found is not None else None


def _run_model_label(module: LightningModule) -> str:
    """The model as the user chose it (the config option, ``unet_efficientnet_lite0``), else its registry name."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("model")
        if choice:
            return str(choice)
    return str(module.hparams["model"]["name"])


def _is_gan(hparams: Mapping[str, Any]) -> bool:
    return "gan" in hparams or hparams.get("loss", {}).get("name") == "gan"  # the latter: before module=gan


def _first_shape_difference(theirs: Mapping[str, torch.Tensor], ours: Mapping[str, torch.Tensor]) -> str | None:
    for key, value in theirs.items():
        if key in ours and tuple(value.shape) != tuple(ours[key].shape):
            return f"{key}: {list(value.shape)} in the checkpoint, {list(ours[key].shape)} in this run"
    return None


def _differing_options(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> list[str]:
    keys = [k for k in sorted(set(theirs) | set(ours)) if k not in _WEIGHT_SOURCE_KEYS and k != "name"]
    return [f"model.{k}={theirs.get(k)!r} (here {ours.get(k)!r})" for k in keys if theirs.get(k) != ours.get(k)]


def check_resume_checkpoint(ckpt_path: str, module: LightningModule) -> int:
    """The ``epoch`` stored in ``ckpt_path`` once it is known to be a ``train.py`` checkpoint of the network, loss
    and module kind ``module`` is; a :class:`ConfigError` naming ``ckpt_path=...`` and the fix otherwise.

    Reads the file memory-mapped (the weights are not read). Names that differ (a model alias) pass when the
    tensors agree; only a real mismatch, which Lightning's strict load would report tensor by tensor, stops here.
    """
    problem = unreadable_reason(ckpt_path) if Path(ckpt_path).is_file() else None
    if problem is not None:  # the loader's wording, with the cause in the reader's terms (not torch's mmap's)
        raise ConfigError(f"ckpt_path={ckpt_path} is not a PyTorch checkpoint ({problem})")
    try:
        ckpt = read_checkpoint(ckpt_path)
    except FileNotFoundError as e:
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist: pass a checkpoint file (a run's "
                          "checkpoints/last.ckpt or epoch_NNN.ckpt), ckpt_path=last, or no ckpt_path") from e
    except CheckpointError as e:  # its message starts with the path: "<path> is not a PyTorch checkpoint (...)"
        raise ConfigError(f"ckpt_path={e}") from e
    hparams, state = network_parts(ckpt)
    own_state = {k: v for k, v in module.state_dict().items() if k.startswith(("net.", "loss_fn."))}
    theirs = {"model": hparams["model"]["name"], "loss": hparams["loss"]["name"],
              "module": "gan" if _is_gan(ckpt["hyper_parameters"]) else "default"}
    ours = {"model": module.hparams["model"]["name"], "loss": module.hparams["loss"]["name"],
            "module": "gan" if _is_gan(module.hparams) else "default"}
    shape_difference = _first_shape_difference(state, own_state)
    if theirs != ours and (theirs["module"] != ours["module"] or shape_difference or set(state) != set(own_state)):
        extra = "" if theirs["module"] == "default" else ", module=gan"
        run = f"`{_run_model_label(module)}`"
        if theirs["loss"] != ours["loss"] or theirs["module"] != ours["module"]:
            run += f" (loss {ours['loss']}{', module=gan' if ours['module'] == 'gan' else ''})"
        fix = " ".join(f"{k}={theirs[k]}" for k in ("model", "loss", "module") if theirs[k] != ours[k])
        raise ConfigError(f"ckpt_path={ckpt_path} is a `{theirs['model']}` checkpoint (loss {theirs['loss']}{extra}) "
                          f"but this run builds {run}: pass {fix}, or start without ckpt_path")
    if shape_difference:
        options = _differing_options(hparams["model"], module.hparams["model"])
        detail = ", ".join(options) if options else shape_difference
        raise ConfigError(f"ckpt_path={ckpt_path} holds a `{theirs['model']}` network of other sizes than this "
                          f"run's ({detail}): pass the options it was trained with, or start without ckpt_path")
    return int(ckpt.get("epoch", 0))


def lightning_hpc_resume_path(trainer: Trainer) -> str | None:
    """The checkpoint Lightning resumes from by itself when ``ckpt_path`` is ``None``: under SLURM, the newest
    ``hpc_ckpt_N.ckpt`` in the trainer's root dir (what its auto-requeue saved on the pre-emption signal)."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    if not SLURMEnvironment.detect():
        return None
    return getattr(trainer._checkpoint_connector, "_hpc_resume_path", None)  # Lightning's own choice, not ours


def _checkpoint_dirs(trainer: Trainer, output_dir: Path) -> set[Path]:
    dirs = {Path(output_dir) / "checkpoints"}
    dirs.update(Path(cb.dirpath) for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint) and cb.dirpath)
    return dirs


def prepare_fit(trainer: Trainer, module: LightningModule, loggers: Iterable[Any], ckpt_path: str | None,
                output_dir: Path) -> str | None:
    """Everything before ``trainer.fit``: temp files of an interrupted save removed (rank zero), ``ckpt_path``
    resolved and checked (:func:`resolve_ckpt_path`, :func:`check_resume_checkpoint`; also a SLURM requeue's
    ``hpc_ckpt``, which Lightning picks itself), and the loggers that keep history (``continue_after_epoch``) told
    the checkpoint's epoch. Returns the path to give ``trainer.fit``."""
    if trainer.is_global_zero:
        for directory in _checkpoint_dirs(trainer, output_dir):
            remove_stray_temp_files(directory)
    resolved = resolve_ckpt_path(ckpt_path, output_dir)
    resumed_from = resolved or lightning_hpc_resume_path(trainer)
    epoch = check_resume_checkpoint(resumed_from, module) if resumed_from is not None else None
    for logger in loggers:
        if hasattr(logger, "continue_after_epoch"):
            logger.continue_after_epoch(epoch)
    return resolved
