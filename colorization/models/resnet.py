"""`resnet`: a timm encoder (default resnet34) and an upsampling decoder from its deepest features, no skips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .blocks import EncoderDecoder
from .encoders import create_encoder
from .registry import register_model


class ResNetColorizer(EncoderDecoder):
    """timm `features_only` encoder (in_chans=1) -> decoder blocks (nearest x2 + conv-BN-ReLU x2) from the
    deepest feature only -> head. Transfer learning through `pretrained` / `weights` (see encoders.py)."""

    def __init__(
        self,
        out_channels: int,
        encoder: str = "resnet34",
        pretrained: bool = False,
        weights: str | None = None,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        attention: str | None = None,
        decoder_convs: int = 2,
        head_kernel_size: int = 1,
        pad_mode: str = "replicate",
        hub_timeout_s: float = 2.0,
        encoder_kwargs: dict | None = None,
        use_skips: bool = False,
    ) -> None:
        enc = create_encoder(encoder, pretrained, weights, hub_timeout_s=hub_timeout_s, **(encoder_kwargs or {}))
        super().__init__(
            enc,
            enc.feature_info.channels(),
            enc.feature_info.reduction(),
            out_channels,
            decoder_channels,
            use_skips=use_skips,
            attention=attention,
            decoder_convs=decoder_convs,
            head_kernel_size=head_kernel_size,
            pad_mode=pad_mode,
        )
        self.encoder_name = encoder


@register_model("resnet")
def resnet(out_channels: int, **kwargs: Any) -> ResNetColorizer:
    """timm encoder + no-skip upsampling decoder. L `[B,1,H,W]` in [-1,1] -> `[B,out_channels,H,W]`.

    `encoder`: any timm name; `pretrained`: timm hub weights (online only); `weights`: a local state-dict file
    or 'efficientnet_lite0_package' (with encoder='tf_efficientnet_lite0'). Fewer `decoder_channels` than
    log2(encoder stride) end the decoder early and upsample the head's output bilinearly (cheaper).
    """
    return ResNetColorizer(out_channels, **kwargs)
