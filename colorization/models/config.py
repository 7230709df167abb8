"""A network from its config: ``{"name": <registry name>, **kwargs}``, as ``conf/model/*.yaml`` and checkpoints
hold it (old checkpoints' names too: the registry keeps deprecated spellings building the same network)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from colorization.errors import require_int
from colorization.models.registry import create_model

# Config-level knobs that are not builder arguments: ``width`` is expanded by the config into the widths it sets.
CONFIG_ONLY_KEYS = ("width",)
# How-to-run options that older checkpoints stored inside the model config (now the LightningModule's arguments).
LEGACY_RUN_OPTIONS = ("compile", "compile_backend", "compile_mode", "channels_last")
# Renamed builder arguments per model: vanilla's ``output_stride`` was where its head runs (its output was always
# full size); the output's resolution is now the loss's ``output_stride``, and the head's place ``head_stride``.
LEGACY_RENAMES = {"vanilla": {"output_stride": "head_stride"}}


def model_kwargs(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``{"name": ..., **kw}`` -> ``(registry name, builder kwargs)``, dropping config-only and legacy keys and
    renaming legacy arguments."""
    kwargs = dict(cfg)
    name = kwargs.pop("name")
    for key in CONFIG_ONLY_KEYS + LEGACY_RUN_OPTIONS:
        kwargs.pop(key, None)
    for old, new in LEGACY_RENAMES.get(name, {}).items():
        if old in kwargs:
            kwargs[new] = kwargs.pop(old)
    return name, kwargs


def model_from_config(cfg: Mapping[str, Any], out_channels: int, output_stride: int = 1) -> nn.Module:
    """Build the network a model config names, with a head of ``out_channels`` at ``output_stride`` (the loss's):
    L ``[B,1,H,W]`` -> ``[B,out_channels,ceil(H/output_stride),ceil(W/output_stride)]``."""
    if "width" in cfg:  # expanded into widths / decoder_channels by the config: a bad one is named here
        require_int("model.width", cfg["width"], "the number of channels of the first layer; the others double")
    name, kwargs = model_kwargs(cfg)
    if "output_stride" in kwargs:
        raise ValueError(f"model.output_stride={kwargs['output_stride']}: the output's resolution is the loss's "
                         "option; set loss.output_stride instead")
    return create_model(name, out_channels=out_channels, output_stride=output_stride, **kwargs)
