"""A network from its config: ``{"name": <registry name>, **kwargs}``, as ``conf/model/*.yaml`` and checkpoints
hold it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from colorization.errors import require_int
from colorization.models.registry import create_model

# Config-level knobs that are not builder arguments: ``width`` is expanded by the config into the widths it sets.
CONFIG_ONLY_KEYS = ("width",)


def model_kwargs(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``{"name": ..., **kw}`` -> ``(registry name, builder kwargs)``, dropping the config-only keys."""
    kwargs = dict(cfg)
    name = kwargs.pop("name")
    for key in CONFIG_ONLY_KEYS:
        kwargs.pop(key, None)
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
