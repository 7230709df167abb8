"""`encoder_decoder`: a timm encoder and an upsampling decoder from its deepest feature only, no skips.

`resnet` is the seed's name for this network with a ResNet encoder (ResNet-34 by default); any other encoder is
`encoder_decoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from colorization.errors import ConfigError

from .base import ColorizationNet
from .blocks import UpsamplingDecoder, check_decoder_args
from .encoders import create_encoder
from .registry import register_model


class EncoderDecoder(ColorizationNet):
    """timm `features_only` encoder (in_chans=1) -> decoder blocks (nearest x2 + conv-BN-ReLU x `decoder_convs`)
    from the deepest feature only -> head. L `[B,1,H,W]` in [-1,1] -> `[B,out_channels,H/s,W/s]` (raw head,
    s = `output_stride`, sizes rounded up).

    Args:
        encoder: any timm model name with features_only support (resnet34, tf_efficientnet_lite0, ...).
        pretrained / weights / hub_timeout_s: transfer learning, see `encoders.create_encoder`.
        decoder_channels: output channels of each decoder block, deep to shallow; fewer blocks than log2(encoder
            stride) end the decoder early and upsample the head's output bilinearly (cheaper).
        attention: None or 'scse' after each block's convs.
        encoder_kwargs: passed to `timm.create_model` (e.g. drop_path_rate).
        output_stride: the output's resolution (the loss's; 1 = full size): decoder blocks finer than it are
            not built, so a head at a quarter resolution drops the last two blocks of a 5-block decoder.
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
                                                decoder_channels, False, attention, decoder_convs, output_stride)
        super().__init__(enc, decoder, out_channels, enc.feature_info.reduction()[-1], head_kernel_size, pad_mode,
                         output_stride)
        self.encoder_name = encoder


def timm_encoder_and_decoder(
    encoder: str,
    pretrained: bool,
    weights: str | None,
    hub_timeout_s: float,
    encoder_kwargs: dict | None,
    decoder_channels: Sequence[int],
    use_skips: bool,
    attention: str | None,
    decoder_convs: int,
    output_stride: int,
) -> tuple[nn.Module, UpsamplingDecoder]:
    """A timm encoder and the upsampling decoder over its features: the parts :class:`EncoderDecoder` (no skips)
    and :class:`~colorization.models.unet.UNet` (skips) are built from; arguments as theirs."""
    check_decoder_args(decoder_channels, decoder_convs, attention)  # before the encoder, which may load weights
    enc = create_encoder(encoder, pretrained, weights, hub_timeout_s=hub_timeout_s, **(encoder_kwargs or {}))
    decoder = UpsamplingDecoder(
        enc.feature_info.channels(), enc.feature_info.reduction(), decoder_channels, use_skips=use_skips,
        attention=attention, num_convs=decoder_convs, finest_stride=output_stride,
    )
    return enc, decoder


@register_model("encoder_decoder")
def encoder_decoder(out_channels: int, **kwargs: Any) -> EncoderDecoder:
    """timm encoder (default resnet34) + skipless upsampling decoder; arguments as :class:`EncoderDecoder`."""
    return EncoderDecoder(out_channels, **kwargs)


def _is_resnet_family(encoder: str) -> bool:
    # timm's ResNet family: resnet*, resnext*, seresnet*, wide_resnet*, resnest*, ecaresnet* ...
    return "resne" in encoder.lower()


@register_model("resnet")
def resnet(out_channels: int, encoder: str = "resnet34", **kwargs: Any) -> EncoderDecoder:
    """The seed's ResNet colorizer: a ResNet-34 encoder + skipless upsampling decoder (see :class:`EncoderDecoder`).

    Another ResNet (`encoder='resnet50'`) is still a `resnet`; any other encoder is `encoder_decoder`.
    """
    if not _is_resnet_family(encoder):
        raise ConfigError(f"model.encoder={encoder}: model=resnet takes a ResNet encoder; for this one use "
                          "model=encoder_decoder (the same network)")
    return EncoderDecoder(out_channels, encoder=encoder, **kwargs)
