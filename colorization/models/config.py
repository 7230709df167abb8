"""A network from its config: ``{"name": <registry name>, **kwargs}``, as ``conf/model/*.yaml`` and checkpoints
hold it (old checkpoints' names too: the registry keeps deprecated spellings building the same network)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from colorization.models.registry import create_model

# Config-level knobs that are not builder arguments: ``width`` is expanded by the config into the widths it sets.
CONFIG_ONLY_KEYS = ("width",)
# How-to-run options that older checkpoints stored inside the model config (now the LightningModule's arguments).
LEGACY_RUN_OPTIONS = ("compile", "compile_backend", "compile_mode", "channels_last")


def model_kwargs(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``{"name": ..., **kw}`` -> ``(registry name, builder kwargs)``, dropping config-only and legacy keys."""
    kwargs = dict(cfg)
    name = kwargs.pop("name")
    for key in CONFIG_ONLY_KEYS + LEGACY_RUN_OPTIONS:
        kwargs.pop(key, None)
    return name, kwargs


def model_from_config(cfg: Mapping[str, Any], out_channels: int) -> nn.Module:
    """Build the network a model config names, with a head of ``out_channels`` (the loss's)."""
    name, kwargs = model_kwargs(cfg)
    return create_model(name, out_channels=out_channels, **kwargs)
