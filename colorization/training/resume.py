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


# --- A resume checked against the run's first part, before anything is written ---------------------------------

# Options that only say how the data is loaded: a resume may change them freely.
_LOADING_KEYS = ("data.num_workers", "data.memmap_workers", "data.pin_memory", "data.persistent_workers",
                 "data.on_device", "data.cache_dir")
# Options that change what is trained from here on (the checkpoint's epochs saw the old value): accepted, named.
_TRAINING_KEYS = ("data.batch_size", "data.drop_last", "data.augment", "module.", "seed")
# Restored from the checkpoint whatever the config says (Lightning loads the optimizer's and scheduler's state).
_RESTORED_KEYS = ("optimizer.", "scheduler.")
_COMPARED = ("model", "loss", "module", "data", "optimizer", "scheduler", "seed", "trainer.max_epochs")


def _leaves(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """``{dotted key: value}`` of ``cfg`` under the compared keys, each resolved on its own (a value that cannot
    be resolved yet, such as ``${hydra:runtime.output_dir}`` before the run starts, is left out)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    out: dict[str, Any] = {}
    if isinstance(cfg, DictConfig):
        for key in cfg.keys():
            name = f"{prefix}{key}"
            if prefix or any(name == c or c.startswith(name + ".") for c in _COMPARED):
                try:
                    child = cfg[key]
                except Exception:  # noqa: BLE001 - an interpolation that resolves only inside the run
                    continue
                out.update(_leaves(child, name + "."))
        return out
    if isinstance(cfg, ListConfig):
        try:
            return {prefix[:-1]: OmegaConf.to_container(cfg, resolve=True)}
        except Exception:  # noqa: BLE001 - as above
            return {}
    return {prefix[:-1]: cfg}


def _is(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p if p.endswith(".") else p + ".") for p in prefixes)


def _schedule_warning(old: Mapping[str, Any], new: Mapping[str, Any], epoch: int) -> str:
    before, after = old.get("trainer.max_epochs"), new.get("trainer.max_epochs")
    done = epoch + 1  # the checkpoint's epoch counts from 0
    if isinstance(after, int) and after <= done:
        return (f"trainer.max_epochs={after}: the checkpoint has {done} epochs trained already, so nothing is left "
                "to train (the run tests and ends)")
    text = f"trainer.max_epochs {before} -> {after}: training continues after the checkpoint's {done} epochs"
    t_max = old.get("scheduler.T_max")
    if str(old.get("scheduler._target_", "")).endswith("CosineAnnealingLR") and isinstance(t_max, int):
        text += (f"; the cosine schedule restored from the checkpoint (T_max={t_max}) "
                 f"{'has reached' if done >= t_max else 'reaches'} its minimum after epoch {t_max} and then climbs "
                 f"back up along the cosine; start a new run (without ckpt_path) for {after} epochs on one schedule")
    return text


def check_resume_config(cfg: Any, run_config: Any | None, ckpt_path: str, option: str | None = None) -> list[str]:
    """Compare the config of a run that resumes from ``ckpt_path`` with ``run_config``, the config the checkpoint
    was trained with (its run dir's ``.hydra/config.yaml``; ``None``: unknown, only the network is compared).

    Raises a :class:`ConfigError` (one line naming the options) when the network, the loss or the data the run
    sees would differ (``model.*`` but ``pretrained``/``weights``, ``loss.*``, ``module._target_``,
    ``data.image_size``, the data's source, split and seed); returns one warning per option that changes what is
    trained from here on (batch size, augmentation, module options, seed, a longer ``trainer.max_epochs``), or
    that the checkpoint overrides (the optimizer's and the scheduler's state are restored from it). ``option`` is
    how the message names the option (default ``ckpt_path=<ckpt_path>``).
    """
    ckpt = read_checkpoint(ckpt_path)
    hparams, _ = network_parts(ckpt)
    epoch = int(ckpt.get("epoch", 0))
    new = _leaves(cfg)
    old = _leaves(run_config) if run_config is not None else {}
    # The network as the checkpoint stores it wins over its run's config file (a file may have been edited).
    old.update({f"model.{k}": v for k, v in hparams["model"].items() if not isinstance(v, (dict, list))})
    old.update({f"loss.{k}": v for k, v in hparams["loss"].items()})
    old["module.kind"] = "gan" if _is_gan(ckpt["hyper_parameters"]) else "default"
    new["module.kind"] = "gan" if any(k.startswith("module.gan.") for k in new) else "default"
    # The module's copies of the model, loss, optimizer and scheduler configs are compared under their own names;
    # the scheduler's T_max follows trainer.max_epochs, which has its own sentence.
    copies = ("module.model", "module.loss", "module.optimizer", "module.scheduler", "scheduler.T_max")
    differing = sorted(k for k in set(old) & set(new) if old[k] != new[k] and not _is(k, copies))
    refused = [k for k in differing if (_is(k, ("model", "loss", "data", "module.kind", "module._target_"))
                                        and not _is(k, ("model.pretrained", "model.weights", *_LOADING_KEYS,
                                                        *_TRAINING_KEYS)))]
    if refused:
        what = ", ".join(f"{k}={new[k]!r} (checkpoint: {old[k]!r})" for k in refused)
        raise ConfigError(f"{option or f'ckpt_path={ckpt_path}'} was trained with other settings than this run's: "
                          f"{what}; pass the settings it was trained with, or start a new run without ckpt_path")
    warnings = []
    for key in differing:
        if key == "trainer.max_epochs":
            warnings.append(_schedule_warning(old, new, epoch))
        elif _is(key, _RESTORED_KEYS):
            part = key.split(".", 1)[0]
            warnings.append(f"{key}={new[key]!r} has no effect on this resume: the {part}'s state is restored from "
                            f"the checkpoint ({key}={old[key]!r}); start a new run to use the new value")
        elif _is(key, _TRAINING_KEYS):
            warnings.append(f"{key}={new[key]!r} (checkpoint: {old[key]!r}) applies after the checkpoint's {epoch + 1} "
                            "epochs, which trained with the checkpoint's value")
    return warnings
