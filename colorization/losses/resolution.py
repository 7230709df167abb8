"""Moving normalised ab between full resolution and a head's coarser grid (``output_stride`` s).

The grid is anchored at the top-left pixel: head cell ``(i, j)`` covers pixels ``[i*s, (i+1)*s) x [j*s, (j+1)*s)``
of the image, so an ``H x W`` image has a ``ceil(H/s) x ceil(W/s)`` head (the models pad and crop to exactly
that, see :class:`~colorization.models.base.ColorizationNet`). Both directions respect that geometry for any
size, including sizes that are not multiples of ``s`` (the last row / column of cells then hangs over the edge).
Values stay in normalised ab units (``ab*/128``): averaging and bilinear blending are linear, so no unit
conversion is involved.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from colorization.errors import ConfigError, require_int

__all__ = ["check_stride", "head_size", "pool_to_stride", "upsample_from_stride"]


def check_stride(output_stride: int) -> int:
    """``output_stride`` as an int, or a ConfigError naming ``loss.output_stride`` unless it is a power of two."""
    s = require_int("loss.output_stride", output_stride, "where the head predicts; a power of two, 1 = full size")
    if s & (s - 1):
        raise ConfigError(f"loss.output_stride={output_stride}: must be a power of two (1 = full resolution, "
                          "4 = a quarter)")
    return s


def head_size(height: int, width: int, stride: int) -> tuple[int, int]:
    """``(ceil(height/stride), ceil(width/stride))``: the head's grid for an image of that size."""
    # (n + s - 1) // s, not -(-n // s): ONNX's integer division truncates, which differs on negative numbers.
    return (height + stride - 1) // stride, (width + stride - 1) // stride


def pool_to_stride(ab: torch.Tensor, stride: int) -> torch.Tensor:
    """Full-size ab ``[B,2,H,W]`` -> the mean of each ``stride x stride`` cell, ``[B,2,ceil(H/s),ceil(W/s)]``.

    Edge cells that hang over the image average only the pixels they hold (the image is padded by replicating
    its last row / column, which weighs those pixels more; the difference is confined to that one cell row).
    Values keep their range (about [-1, 1]). ``stride == 1`` returns ``ab`` itself.
    """
    if stride == 1:
        return ab
    ph, pw = (-ab.shape[-2]) % stride, (-ab.shape[-1]) % stride
    if ph or pw:
        ab = F.pad(ab, (0, pw, 0, ph), mode="replicate")
    return F.avg_pool2d(ab, stride)


def upsample_from_stride(ab_small: torch.Tensor, stride: int, size: tuple[int, int]) -> torch.Tensor:
    """Head-grid ab ``[B,2,h,w]`` (``h = ceil(H/s)``) -> ``[B,2,H,W]``, bilinear between cell centres.

    Each cell's value sits at its centre, pixel ``i*s + (s-1)/2``; pixels beyond the outermost centres take
    the edge value. For ``H = h*s`` this is ``F.interpolate(size=(H, W), mode='bilinear')`` exactly. Values keep
    their range. ``stride == 1`` returns ``ab_small`` itself (it must already be ``H x W``).
    """
    if stride == 1:
        return ab_small
    height, width = size[0], size[1]  # no int(): under torch.export they are symbolic and must stay so
    if tuple(ab_small.shape[-2:]) != head_size(height, width, stride):
        raise ValueError(f"ab of shape {tuple(ab_small.shape)} is not the stride-{stride} grid of {height}x{width}")
    full = F.interpolate(ab_small, scale_factor=float(stride), mode="bilinear", align_corners=False)
    return full[..., :height, :width]
