"""`unet`: a timm encoder and a U-Net decoder with a skip at every scale, built like
segmentation_models_pytorch's Unet (nearest x2, concat skip, conv-BN-ReLU x2, optional scSE)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import ColorizationNet
from .encoder_decoder import timm_encoder_and_decoder
from .registry import register_model


class UNet(ColorizationNet):
    """timm `features_only` encoder (in_chans=1) -> U-Net decoder -> head.
    L `[B,1,H,W]` in [-1,1] -> `[B,out_channels,H/output_stride,W/output_stride]` (raw head, sizes rounded up).

    As smp: the deepest feature is the decoder's input, each block concatenates the encoder feature of the
    same stride, and the last block (full resolution for a stride-32 encoder with 5 decoder channels) has no
    skip. Arguments as :class:`~colorization.models.encoder_decoder.EncoderDecoder`; `attention='scse'` also
    gates each concatenation. With `output_stride` s > 1 the decoder ends at stride s (Zhang et al.'s quarter
    resolution for s = 4: the blocks at strides 2 and 1 are not built).
    """

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
        output_stride: int = 1,
    ) -> None:
        enc, decoder = timm_encoder_and_decoder(encoder, pretrained, weights, hub_timeout_s, encoder_kwargs,
                                                decoder_channels, True, attention, decoder_convs, output_stride)
        super().__init__(enc, decoder, out_channels, enc.feature_info.reduction()[-1], head_kernel_size, pad_mode,
                         output_stride)
        self.encoder_name = encoder


@register_model("unet")
def unet(out_channels: int, **kwargs: Any) -> UNet:
    """timm encoder (default resnet34) + U-Net decoder; arguments as :class:`UNet`.

    Transfer learning through `pretrained`, `weights=PATH` or `weights='efficientnet_lite0_package'` (with
    `encoder='tf_efficientnet_lite0'`).
    """
    return UNet(out_channels, **kwargs)
