"""The pix2pix PatchGAN discriminator: a conditional critic that scores overlapping patches as real or fake.

Input: the gray image and a colouring of it, ``cat(L, ab)`` ``[B,3,H,W]`` (L in [-1,1], ab normalised); output:
one logit per patch ``[B,1,h,w]``. With the default ``n_layers=3`` it is pix2pix's 70x70 discriminator,
C64-C128-C256-C512 (4x4 convs, strides 2,2,2,1, no norm on the first) and a 1-channel 4x4 conv, each patch
logit seeing a 70x70 window. Not in the model registry: it is not a colorization network; the GAN module owns it
(:mod:`colorization.training.gan_module`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PatchDiscriminator", "patchgan_receptive_field"]

_NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def patchgan_receptive_field(n_layers: int = 3, kernel_size: int = 4) -> int:
    """Side in pixels of the input window one output logit sees: 70 for pix2pix's ``n_layers=3``."""
    strides = [2] * n_layers + [1, 1]  # n_layers stride-2 convs, then the stride-1 C(last) and the 1-ch conv
    field = 1
    for s in reversed(strides):
        field = field * s + (kernel_size - s)
    return field


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``[B,in_channels,H,W]`` -> patch logits ``[B,1,H/2**n_layers - 2, W/2**n_layers - 2]``.

    Args:
        in_channels: 3 for ``cat(L, ab)``.
        base_channels: width of the first conv (64 in pix2pix); it doubles per layer up to 8x.
        n_layers: stride-2 convs (3 -> the 70x70 PatchGAN, 1 -> the 16x16 one, 5 -> 286x286).
        norm: ``batch`` (pix2pix), ``instance``, or ``none``; never on the first and the last conv.
        negative_slope: LeakyReLU slope (0.2 in pix2pix).
        kernel_size: conv kernel (4 in pix2pix), padding 1.
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        negative_slope: float = 0.2,
        kernel_size: int = 4,
    ) -> None:
        super().__init__()
        if norm not in _NORMS:
            raise ValueError(f"PatchGAN norm must be one of {', '.join(_NORMS)}, got {norm!r}")
        if n_layers < 1 or base_channels < 1:
            raise ValueError(f"PatchGAN needs n_layers >= 1 and base_channels >= 1, got {n_layers}, {base_channels}")
        self.n_layers = int(n_layers)
        self.kernel_size = int(kernel_size)
        # A conv followed by a norm needs no bias (the norm's shift replaces it).
        bias = norm != "batch"
        act = nn.LeakyReLU(negative_slope, inplace=True)
        k = kernel_size
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base_channels, k, stride=2, padding=1), act]
        width = base_channels
        for i in range(1, n_layers + 1):
            prev, width = width, base_channels * min(2**i, 8)
            stride = 2 if i < n_layers else 1  # the last feature conv keeps the resolution (C512, stride 1)
            layers += [nn.Conv2d(prev, width, k, stride=stride, padding=1, bias=bias), _norm(norm, width), act]
        layers.append(nn.Conv2d(width, 1, k, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    @property
    def receptive_field(self) -> int:
        return patchgan_receptive_field(self.n_layers, self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B,in_channels,H,W]`` -> raw patch logits ``[B,1,h,w]`` (no sigmoid)."""
        return self.net(x)


def _init_weights(m: nn.Module) -> None:
    # pix2pix initialisation: N(0, 0.02) convs, N(1, 0.02) norm scales; GAN training is sensitive to it.
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
