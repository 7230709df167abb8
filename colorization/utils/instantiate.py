"""Build lists of callbacks and loggers from their config groups (one entry per key, nulls skipped)."""

from __future__ import annotations

import logging
from typing import Any

import hydra
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def instantiate_dict(cfg: DictConfig | None, kind: str) -> list[Any]:
    """Instantiate every entry of a ``{name: {_target_: ...}}`` group; ``null`` entries switch one off."""
    if not cfg:
        return []
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"{kind} config must be a mapping of name -> config, got {type(cfg).__name__}")
    out = []
    for name, conf in cfg.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.info("instantiating %s <%s> (%s)", kind, conf._target_, name)
            out.append(hydra.utils.instantiate(conf))
    return out
