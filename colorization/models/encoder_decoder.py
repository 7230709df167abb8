"""`encoder_decoder`: a timm encoder and an upsampling decoder from its deepest feature only, no skips.

`resnet` is the seed's name for this network with a ResNet encoder (ResNet-34 by default); any other encoder is
`encoder_decoder`.
"""

from __future__ import annotations

from typing import Any

from colorization.errors import ConfigError

from .registry import register_model
from .timm_net import TimmEncoderNet


class EncoderDecoder(TimmEncoderNet):
    """timm encoder -> decoder blocks from the deepest feature only (no skips) -> head; arguments as
    :class:`~colorization.models.timm_net.TimmEncoderNet`."""

    use_skips = False


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
