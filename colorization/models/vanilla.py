"""`vanilla`: a plain convolutional encoder-decoder, no skips, no pretraining; the baseline of every table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from colorization.errors import ConfigError, require_int, require_ints

from .base import ColorizationNet
from .blocks import ConvBNReLU, UpsamplingDecoder
from .registry import register_model

log = logging.getLogger(__name__)


class PlainEncoder(nn.Module):
    """Stages of a strided conv-BN-ReLU (halves the size) plus `convs_per_stage - 1` more at that size.

    `[B,in_chans,H,W]` -> list of `[B,widths[i],H/2**(i+1),W/2**(i+1)]`, shallow to deep. Nothing runs at full
    resolution: the first conv already has stride 2, which is what keeps the model cheap on a CPU.
    """

    def __init__(self, widths: Sequence[int], convs_per_stage: int = 2, in_chans: int = 1) -> None:
        super().__init__()
        stages, prev = [], in_chans
        for w in widths:
            layers = [ConvBNReLU(prev, w, stride=2)] + [ConvBNReLU(w, w) for _ in range(convs_per_stage - 1)]
            stages.append(nn.Sequential(*layers))
            prev = w
        self.stages = nn.ModuleList(stages)
        self.channels = [int(w) for w in widths]
        self.reductions = [2 ** (i + 1) for i in range(len(widths))]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class VanillaCNN(ColorizationNet):
    """Plain encoder-decoder: strided convs down to H/2**len(widths), then blocks of nearest x2 + conv-BN-ReLU
    (no skips) back up to H/head_stride with the encoder's width at each stride, a 1x1 head there and a
    bilinear upsampling of its output to H/output_stride (full size by default). `model.encoder` is the down path.

    The defaults are chosen for CPU speed: one conv per stage and head_stride 4 (as Zhang et al. 2016, whose
    network also predicts colour at a quarter of the resolution: chroma is smooth, a bilinear x4 loses little).
    The head runs at the coarser of `head_stride` and `output_stride` (the loss's).
    """

    def __init__(
        self,
        out_channels: int,
        widths: Sequence[int] = (32, 64, 128, 256),
        convs_per_stage: int = 1,
        decoder_convs: int = 1,
        head_stride: int = 4,
        head_kernel_size: int = 1,
        pad_mode: str = "replicate",
        output_stride: int = 1,
        pretrained: bool = False,
        weights: str | None = None,
    ) -> None:
        # Every model config takes the same weight switches, so one sweep can mix models
        # (`-m model=vanilla,resnet,unet model.pretrained=false`); vanilla has no encoder to start from them.
        if pretrained or weights is not None:
            asked = "model.pretrained=true" if weights is None else f"model.weights={weights}"
            log.info("%s: vanilla has no pretrained weights to load; it starts from scratch", asked)
        widths = require_ints("model.widths", widths, "channels of each downsampling stage")
        require_int("model.convs_per_stage", convs_per_stage, "conv layers per encoder stage")
        require_int("model.decoder_convs", decoder_convs, "conv layers per decoder block")
        stride = 2 ** len(widths)
        for name, value in (("model.head_stride", head_stride), ("loss.output_stride", output_stride)):
            if not isinstance(value, int) or value < 1 or value & (value - 1) or value >= stride:
                raise ConfigError(f"{name}={value!r}: must be a power of two below the vanilla encoder's stride "
                                  f"{stride} (2 ** len(model.widths))")
        encoder = PlainEncoder(widths, convs_per_stage)
        # Block i brings stride s to s/2 with the encoder's width at s/2 (widths[0] for full resolution).
        end = max(head_stride, output_stride)
        targets = [stride // 2 ** (i + 1) for i in range(len(widths)) if stride // 2 ** (i + 1) >= end]
        decoder_widths = [int(widths[max(0, t.bit_length() - 2)]) for t in targets]
        decoder = UpsamplingDecoder(
            encoder.channels, encoder.reductions, decoder_widths, use_skips=False, num_convs=decoder_convs
        )
        super().__init__(encoder, decoder, out_channels, stride, head_kernel_size, pad_mode, output_stride)


@register_model("vanilla")
def vanilla(out_channels: int, **kwargs: Any) -> VanillaCNN:
    """Plain CNN baseline. L `[B,1,H,W]` in [-1,1] -> `[B,out_channels,H/output_stride,W/output_stride]`.

    `widths`: channels per downsampling stage (stride 2**len(widths)); `convs_per_stage` / `decoder_convs`:
    conv-BN-ReLU layers per encoder stage / decoder block; `head_stride`: where the head runs (1 = full size;
    configs and checkpoints made before `output_stride` meant the output's resolution called it
    `output_stride`); `output_stride`: the output's resolution (the loss's). `pretrained` / `weights` are
    accepted as every model's are and load nothing (no encoder was pretrained; an INFO line says so).
    """
    return VanillaCNN(out_channels, **kwargs)
