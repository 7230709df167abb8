"""`unet`: a timm encoder and a U-Net decoder with a skip at every scale, built like
segmentation_models_pytorch's Unet (nearest x2, concat skip, conv-BN-ReLU x2, optional scSE)."""

from __future__ import annotations

from collections.abc import Sequence

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
def unet(
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
) -> UNet:
    """timm encoder + U-Net decoder. L `[B,1,H,W]` in [-1,1] -> `[B,out_channels,H,W]`.

    `attention`: None or 'scse'. Transfer learning as for `resnet` (`pretrained`, `weights=PATH`,
    `weights='efficientnet_lite0_package'` with `encoder='tf_efficientnet_lite0'`).
    """
    return UNet(
        out_channels,
        encoder=encoder,
        pretrained=pretrained,
        weights=weights,
        decoder_channels=decoder_channels,
        attention=attention,
        decoder_convs=decoder_convs,
        head_kernel_size=head_kernel_size,
        pad_mode=pad_mode,
        hub_timeout_s=hub_timeout_s,
        encoder_kwargs=encoder_kwargs,
    )
