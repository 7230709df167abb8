"""The encoder networks' one constructor: a timm ``features_only`` encoder, an upsampling decoder over its features
(skips on or off) and the head. :class:`~colorization.models.encoder_decoder.EncoderDecoder` (no skips) and
:class:`~colorization.models.unet.UNet` (a skip at every scale) are this class with ``use_skips`` fixed."""

from __future__ import annotations

from collections.abc import Sequence

from .base import ColorizationNet
from .blocks import UpsamplingDecoder, check_decoder_args
from .encoders import create_encoder


class TimmEncoderNet(ColorizationNet):
    """timm `features_only` encoder (in_chans=1) -> decoder blocks (nearest x2, [concat the encoder feature of the
    same stride when `use_skips`], conv-BN-ReLU x `decoder_convs`) -> head. L `[B,1,H,W]` in [-1,1] ->
    `[B,out_channels,H/s,W/s]` (raw head, s = `output_stride`, sizes rounded up).

    Args:
        encoder: any timm model name with features_only support (resnet34, tf_efficientnet_lite0, ...).
        pretrained / weights / hub_timeout_s: transfer learning, see `encoders.create_encoder`.
        decoder_channels: output channels of each decoder block, deep to shallow; fewer blocks than log2(encoder
            stride) end the decoder early and upsample the head's output bilinearly (cheaper).
        attention: None or 'scse' after each block's convs (and, with skips, on each concatenation).
        decoder_convs: conv-BN-ReLU layers per decoder block.
        head_kernel_size / pad_mode: the head's convolution and how inputs are padded to the encoder's stride.
        encoder_kwargs: passed to `timm.create_model` (e.g. drop_path_rate).
        output_stride: the output's resolution (the loss's; 1 = full size): decoder blocks finer than it are
            not built, so a head at a quarter resolution drops the last two blocks of a 5-block decoder.
    """

    use_skips: bool = False  # each architecture fixes it

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
        check_decoder_args(decoder_channels, decoder_convs, attention)  # before the encoder, which may load weights
        enc = create_encoder(encoder, pretrained, weights, hub_timeout_s=hub_timeout_s, **(encoder_kwargs or {}))
        decoder = UpsamplingDecoder(
            enc.feature_info.channels(), enc.feature_info.reduction(), decoder_channels, use_skips=self.use_skips,
            attention=attention, num_convs=decoder_convs, finest_stride=output_stride,
        )
        super().__init__(enc, decoder, out_channels, enc.feature_info.reduction()[-1], head_kernel_size, pad_mode,
                         output_stride)
        self.encoder_name = encoder
