"""`unet`: a timm encoder and a U-Net decoder with a skip at every scale, built like
segmentation_models_pytorch's Unet (nearest x2, concat skip, conv-BN-ReLU x2, optional scSE)."""

from __future__ import annotations

from typing import Any

from .registry import register_model
from .resnet import ResNetColorizer


class UNet(ResNetColorizer):
    """timm encoder -> U-Net decoder (skip at every stride the encoder has) -> head.

    As smp: the deepest feature is the decoder's input, each block concatenates the encoder feature of the
    same stride, and the last block (full resolution for a stride-32 encoder with 5 decoder channels) has no
    skip. Parts: `model.encoder`, `model.decoder`, `model.head`.
    """

    def __init__(self, out_channels: int, **kwargs) -> None:
        super().__init__(out_channels, use_skips=True, **kwargs)


@register_model("unet")
def unet(out_channels: int, **kwargs: Any) -> UNet:
    """timm encoder + U-Net decoder. L `[B,1,H,W]` in [-1,1] -> `[B,out_channels,H,W]`.

    `attention`: None or 'scse'. Transfer learning as for `resnet` (`pretrained`, `weights=PATH`,
    `weights='efficientnet_lite0_package'` with `encoder='tf_efficientnet_lite0'`).
    """
    return UNet(out_channels, **kwargs)
