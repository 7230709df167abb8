"""Checks of the options this project hands on to libraries, run before anything is built.

The network's, the loss's and the data's options are checked by their own constructors (``model.*``, ``loss.*``,
``data.*``). The ones here are consumed by torch's optimizers and schedulers, Lightning's ``Trainer`` and the
LightningModule, whose own errors (``Invalid learning rate: -1.0``) name no option and come late, after the
model and the trainer are built. Each bad value gets a :class:`~colorization.errors.ConfigError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from colorization.errors import ConfigError, require_choice, require_int, require_number


def _present(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """Whether ``key`` (dotted) is set to something other than null, and its value."""
    value = OmegaConf.select(cfg, key, default=None)
    return value is not None, value


def _positive(meaning: str) -> Callable[[str, Any], Any]:
    return lambda option, v: require_number(option, v, meaning, low_open=True)


def _non_negative(meaning: str) -> Callable[[str, Any], Any]:
    return lambda option, v: require_number(option, v, meaning)


def _count(meaning: str, minimum: int = 1) -> Callable[[str, Any], Any]:
    return lambda option, v: require_int(option, v, meaning, minimum=minimum)


def _count_or_unlimited(meaning: str) -> Callable[[str, Any], Any]:
    """A positive integer, or -1 as Lightning spells "no limit"."""
    def check(option: str, value: Any) -> None:
        if value != -1 or isinstance(value, bool):
            require_int(option, value, f"{meaning}; -1: no limit")
    return check


def _betas(option: str, value: Any) -> None:
    is_pair = (isinstance(value, list | tuple) or OmegaConf.is_list(value)) and len(value) == 2
    if not is_pair:
        raise ConfigError(f"{option}={value!r}: must be a pair [beta1, beta2], each in [0, 1) (Adam's moment decays)")
    for beta in value:
        require_number(option, beta, "Adam's moment decays, each in [0, 1)", high=1.0, high_open=True)


def _devices(option: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value != -1:
        require_int(option, value, "devices per node; -1: all of them, auto: Lightning's choice")


# option -> its check, in this order (the trainer first: scheduler.T_max follows trainer.max_epochs). Only the
# options present (and not null) in the config are checked.
CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "trainer.max_epochs": _count_or_unlimited("epochs to train"),
    "trainer.max_steps": _count_or_unlimited("optimizer steps to train"),
    "trainer.min_epochs": _count("epochs to train at least", minimum=0),
    "trainer.check_val_every_n_epoch": _count("epochs between validations"),
    "trainer.log_every_n_steps": _count("steps between logged values"),
    "trainer.accumulate_grad_batches": _count("batches whose gradients add up to one step"),
    "trainer.gradient_clip_val": _non_negative("the gradient norm clipped to; null: no clipping"),
    "trainer.num_nodes": _count("machines of a DDP run"),
    "trainer.devices": _devices,
    "optimizer.lr": _positive("the learning rate"),
    "optimizer.weight_decay": _non_negative("the weight decay"),
    "optimizer.eps": _positive("the optimizer's term for numerical stability"),
    "optimizer.momentum": _non_negative("the momentum"),
    "optimizer.betas": _betas,
    "scheduler.T_max": _count("epochs of the cosine schedule, trainer.max_epochs by default"),
    "scheduler.eta_min": _non_negative("the learning rate the cosine schedule ends at"),
    "module.freeze_encoder_epochs": _count("epochs the encoder stays frozen", minimum=0),
    "module.encoder_lr_mult": _non_negative("the encoder's learning rate over the optimizer's"),
    "module.gan.lambda_l1": _non_negative("the weight of the reconstruction loss against the adversarial one"),
    "module.gan.d_lr": _positive("the discriminator's learning rate"),
}


def check_run_options(cfg: DictConfig) -> None:
    """Raise a :class:`ConfigError` for the first option of :data:`CHECKS` that holds a value its consumer would
    reject (or silently misuse), e.g. ``optimizer.lr=-1: must be a number > 0 (the learning rate)``."""
    for option, check in CHECKS.items():
        present, value = _present(cfg, option)
        if present:
            check(option, value)
    present, interval = _present(cfg, "module.scheduler_interval")
    if present:
        require_choice("module.scheduler_interval", interval, ("epoch", "step"), "when the scheduler steps")
    low, high = (OmegaConf.select(cfg, f"trainer.{k}_epochs", default=None) for k in ("min", "max"))
    if isinstance(low, int) and isinstance(high, int) and high != -1 and low > high:
        raise ConfigError(f"trainer.min_epochs={low} > trainer.max_epochs={high}: the minimum must not exceed the "
                          "maximum")


def check_before_build(cfg: DictConfig, datamodule: Any) -> None:
    """Everything that can be checked in a second, before the model and the trainer are built (~10 s): the options
    of :data:`CHECKS`, then the data source (``datamodule.check_source()``: a missing folder, an empty one, a Kaggle
    root without its arrays fail here, each naming the file)."""
    check_run_options(cfg)
    check_source = getattr(datamodule, "check_source", None)
    if check_source is not None:
        check_source()
