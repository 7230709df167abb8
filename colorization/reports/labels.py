"""Names a person reads for a job or a group of a sweep: where its encoder started, its model (wrapped to fit
a chart), its label (model, encoder start and, when a sweep has several, loss)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# What an encoder started from (job_status.json's encoder_weights "kind:detail"), as a short label.
ENCODER_START = {"scratch": "scratch", "imagenet": "ImageNet", "package": "pretrained (package)",
                 "file": "pretrained (file)"}


def encoder_start(encoder_weights: Any) -> str:
    """``imagenet:timm/...`` -> ``ImageNet``; ``scratch`` -> ``scratch``; ``None`` (a model without a pretrainable
    encoder, e.g. vanilla) -> ``no encoder``; an unknown kind is kept as written."""
    if encoder_weights in (None, ""):
        return "no encoder"
    kind = str(encoder_weights).split(":", 1)[0]
    return ENCODER_START.get(kind, str(encoder_weights))


def wrap_name(name: str, width: int) -> str:
    """``name`` over lines of at most ``width`` characters, broken after underscores (a longer piece keeps its
    line): ``unet_efficientnet_lite0_imagenet`` at 18 -> ``unet_\nefficientnet_lite0_\nimagenet``."""
    lines = [""]
    for piece in (p + "_" for p in name.split("_")):
        if lines[-1] and len(lines[-1]) + len(piece) > width + 1:  # +1: a trailing "_" may overhang
            lines.append("")
        lines[-1] += piece
    return "\n".join(lines)[:-1]


def group_label(group: dict[str, Any], with_loss: bool = False, sep: str = "\n", width: int | None = None) -> str:
    """``<model><sep><encoder start>`` (and ``<sep>loss <loss>`` when the sweep has more than one loss); the model
    name wrapped at ``width`` characters when given."""
    model = str(group["model"])
    parts = [wrap_name(model, width) if width else model, encoder_start(group.get("encoder_weights"))]
    if with_loss:
        parts.append(f"loss {group['loss']}")
    return sep.join(parts)


def several_losses(groups: Sequence[dict[str, Any]]) -> bool:
    return len({g["loss"] for g in groups}) > 1
