"""`unet`: a timm encoder and a U-Net decoder with a skip at every scale, built like
segmentation_models_pytorch's Unet (nearest x2, concat skip, conv-BN-ReLU x2, optional scSE)."""

from __future__ import annotations

from typing import Any

from .registry import register_model
from .timm_net import TimmEncoderNet


class UNet(TimmEncoderNet):
    """timm `features_only` encoder (in_chans=1) -> U-Net decoder -> head.
    L `[B,1,H,W]` in [-1,1] -> `[B,out_channels,H/output_stride,W/output_stride]` (raw head, sizes rounded up).

    As smp: the deepest feature is the decoder's input, each block concatenates the encoder feature of the
    same stride, and the last block (full resolution for a stride-32 encoder with 5 decoder channels) has no
    skip. Arguments as :class:`~colorization.models.timm_net.TimmEncoderNet`; `attention='scse'` also
    gates each concatenation. With `output_stride` s > 1 the decoder ends at stride s (Zhang et al.'s quarter
    resolution for s = 4: the blocks at strides 2 and 1 are not built).
    """

    use_skips = True


@register_model("unet")
def unet(out_channels: int, **kwargs: Any) -> UNet:
    """timm encoder (default resnet34) + U-Net decoder; arguments as :class:`UNet`.

    Transfer learning through `pretrained`, `weights=PATH` or `weights='efficientnet_lite0_package'` (with
    `encoder='tf_efficientnet_lite0'`).
    """
    return UNet(out_channels, **kwargs)
