"""Shared layers: conv-BN-ReLU, scSE attention, the upsampling decoder (with or without U-Net skips) and the
padding that lets every network take any image size (the colorize command runs arbitrary photos)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from colorization.errors import ConfigError, require_choice, require_int, require_ints


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias, BN follows) -> BatchNorm2d -> ReLU. `[B,in,H,W] -> [B,out,H/stride,W/stride]`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class SCSE(nn.Module):
    """Concurrent spatial and channel squeeze & excitation (Roy et al. 2018), as smp's `attention_type='scse'`.

    `[B,C,H,W] -> [B,C,H,W]`: x * channel_gate(x) + x * spatial_gate(x).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.spatial_gate = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.channel_gate(x) + x * self.spatial_gate(x)


ATTENTIONS = (None, "none", "null", "scse")


def make_attention(attention: str | None, channels: int, reduction: int = 16) -> nn.Module:
    """`None` -> identity, `'scse'` -> :class:`SCSE`; anything else is a clear error."""
    require_choice("model.attention", attention, ATTENTIONS, "scse gates each decoder block; null: none")
    return SCSE(channels, reduction) if attention == "scse" else nn.Identity()


def check_decoder_args(decoder_channels: Sequence[int], num_convs: int, attention: str | None) -> list[int]:
    """The decoder's options as a config sets them, or a ConfigError naming the bad one; returns the widths.

    Cheap, so builders call it before the (slower) encoder too: a typo fails before any weights load.
    """
    widths = require_ints("model.decoder_channels", decoder_channels, "output channels of each decoder block")
    require_int("model.decoder_convs", num_convs, "conv layers per decoder block")
    require_choice("model.attention", attention, ATTENTIONS, "scse gates each decoder block; null: none")
    return widths


class DecoderBlock(nn.Module):
    """Upsample x2 (nearest), concatenate the skip (if any), then conv-BN-ReLU x `num_convs`.

    As smp's Unet DecoderBlock: attention on the concatenation (only with a skip) and after the convs.
    `[B,in,h,w]` (+ skip `[B,skip,2h,2w]`) -> `[B,out,2h,2w]`.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        attention: str | None = None,
        num_convs: int = 2,
        attention_reduction: int = 16,
    ) -> None:
        super().__init__()
        cat = in_channels + skip_channels
        self.attention1 = make_attention(attention if skip_channels else None, cat, attention_reduction)
        convs = [ConvBNReLU(cat if i == 0 else out_channels, out_channels) for i in range(num_convs)]
        self.convs = nn.Sequential(*convs)
        self.attention2 = make_attention(attention, out_channels, attention_reduction)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        size = skip.shape[-2:] if skip is not None else (x.shape[-2] * 2, x.shape[-1] * 2)
        x = F.interpolate(x, size=size, mode="nearest")
        if skip is not None:
            x = self.attention1(torch.cat([x, skip], dim=1))
        return self.attention2(self.convs(x))


class UpsamplingDecoder(nn.Module):
    """A chain of :class:`DecoderBlock`, each doubling the resolution, from the deepest encoder feature.

    Args:
        encoder_channels: channels of each encoder feature, shallow to deep.
        encoder_reductions: stride of each feature w.r.t. the input (e.g. 2, 4, 8, 16, 32), shallow to deep.
        decoder_channels: output channels of each block; block i brings the deepest feature from stride
            `R / 2**i` to `R / 2**(i+1)`. Fewer blocks than log2(R) end the decoder at a coarser stride
            (`output_stride`); the model then upsamples the head's output bilinearly.
        use_skips: concatenate the encoder feature of matching stride (U-Net); False = decoder from the
            deepest feature only.
        attention: None or 'scse' (only meaningful with skips, but allowed either way).
        finest_stride: the decoder stops there: blocks that would go finer are not built (a head at a quarter
            resolution needs no full-resolution layers). 1 builds every block.

    forward: list of features (shallow to deep) -> `[B, decoder_channels[-1], H/output_stride, W/output_stride]`.
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        encoder_reductions: Sequence[int],
        decoder_channels: Sequence[int],
        use_skips: bool = True,
        attention: str | None = None,
        num_convs: int = 2,
        attention_reduction: int = 16,
        finest_stride: int = 1,
    ) -> None:
        super().__init__()
        decoder_channels = check_decoder_args(decoder_channels, num_convs, attention)
        if len(encoder_channels) != len(encoder_reductions):
            raise ValueError("encoder_channels and encoder_reductions must have the same length.")
        deepest = int(encoder_reductions[-1])
        levels = int(round(math.log2(deepest)))
        if 2**levels != deepest:
            raise ValueError(f"The deepest encoder stride must be a power of two, got {deepest}.")
        if not 1 <= len(decoder_channels) <= levels:
            raise ConfigError(
                f"model.decoder_channels has {len(decoder_channels)} entries ({decoder_channels}), but an encoder "
                f"of stride {deepest} allows 1 to {levels} upsampling blocks"
            )
        if finest_stride < 1 or finest_stride & (finest_stride - 1) or finest_stride >= deepest:
            raise ValueError(f"finest_stride must be a power of two below the encoder stride {deepest}, "
                             f"got {finest_stride}.")
        decoder_channels = list(decoder_channels)[: levels - int(math.log2(finest_stride))]
        self.use_skips = use_skips
        # Which encoder feature (index) each block concatenates; None when no feature has that stride.
        by_reduction = {int(r): i for i, r in enumerate(encoder_reductions[:-1])}
        self.skip_index: list[int | None] = []
        blocks = []
        in_ch = int(encoder_channels[-1])
        for i, out_ch in enumerate(decoder_channels):
            target = deepest // 2 ** (i + 1)
            idx = by_reduction.get(target) if use_skips else None
            self.skip_index.append(idx)
            skip_ch = int(encoder_channels[idx]) if idx is not None else 0
            blocks.append(DecoderBlock(in_ch, skip_ch, int(out_ch), attention, num_convs, attention_reduction))
            in_ch = int(out_ch)
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = in_ch
        self.output_stride = deepest // 2 ** len(decoder_channels)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for block, idx in zip(self.blocks, self.skip_index, strict=True):
            x = block(x, features[idx] if idx is not None else None)
        return x


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "replicate", align: int = 1
) -> tuple[torch.Tensor, tuple]:
    """Pad `[B,C,H,W]` on all sides (about evenly) so H and W are multiples of `multiple`.

    Returns the padded tensor and the crop box `(top, left, H, W)` that undoes it. 'replicate' works for any
    size >= 1 (reflect needs the pad to be smaller than the image). `top` and `left` are rounded down to
    multiples of `align` (a divisor of `multiple`), so a grid of `align`-sized cells starts at the image's corner.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    top, left = ph // 2 // align * align, pw // 2 // align * align
    if ph or pw:
        x = F.pad(x, (left, pw - left, top, ph - top), mode=mode)
    return x, (top, left, h, w)
