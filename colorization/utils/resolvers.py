"""OmegaConf resolvers the configs use; registered on import of the entry points, before Hydra composes."""

from __future__ import annotations

import os

from omegaconf import ListConfig, OmegaConf


def _pid() -> int:
    # Cached per process by OmegaConf: every interpolation in one run sees the same value.
    return os.getpid()


def _sweep_group(default: str) -> str:
    """The W&B group of a run: the sweep's directory (date/time-pid) in a multirun, else ``default``."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            parts = os.path.normpath(hc.sweep.dir).split(os.sep)
            return "sweep-" + "_".join(parts[-2:])
    except (ValueError, ImportError):
        pass
    return default


def _pyramid(base: int, n: int, descending: bool = False) -> ListConfig:
    """Channel widths doubling per level: ``(16, 5, True) -> [256, 128, 64, 32, 16]``.

    Lets one number (``model.width``) scale a whole network, so a sweep or Optuna can tune it.
    """
    widths = [int(base) * 2**i for i in range(int(n))]
    # A ListConfig, not a list: OmegaConf.resolve() only accepts config nodes and primitives.
    return OmegaConf.create(widths[::-1] if descending else widths)


def register_resolvers() -> None:
    """Idempotent: safe to call from every entry point."""
    if not OmegaConf.has_resolver("colorization.pid"):
        OmegaConf.register_new_resolver("colorization.pid", _pid, use_cache=True)
    if not OmegaConf.has_resolver("colorization.sweep_group"):
        OmegaConf.register_new_resolver("colorization.sweep_group", _sweep_group)
    if not OmegaConf.has_resolver("colorization.pyramid"):
        OmegaConf.register_new_resolver("colorization.pyramid", _pyramid)


register_resolvers()
