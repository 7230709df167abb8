"""Full-resolution lightness + a small predicted ``a*b*`` -> the sRGB photo, without holding big temporaries."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from colorization.color.chunks import for_each_chunk
from colorization.color.srgb import lab_to_srgb

__all__ = ["compose_srgb8", "upsample_ab"]


def _upsample_rows(ab_small: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, ...]:
    """Separable bilinear upsampling of ``[C,h,w]`` to ``[C,height,width]``, prepared for row chunks.

    Returns ``(wide [C,h,width], i0 [height], i1 [height], w1 [height,1])``: output row ``r`` is
    ``lerp(wide[:, i0[r]], wide[:, i1[r]], w1[r])``, identical to ``F.interpolate(..., 'bilinear',
    align_corners=False)`` up to float rounding, but it never holds the whole upsampled image.
    """
    h = ab_small.shape[-2]
    wide = F.interpolate(ab_small[None].float(), size=(h, width), mode="bilinear", align_corners=False)[0]
    src = (torch.arange(height, device=ab_small.device, dtype=torch.float32) + 0.5) * (h / height) - 0.5
    src = src.clamp_(min=0.0)
    i0 = src.floor().long().clamp_(max=h - 1)
    i1 = (i0 + 1).clamp_(max=h - 1)
    return wide, i0, i1, (src - i0).clamp_(0.0, 1.0)[:, None]


def upsample_ab(ab_small: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``a*b*`` ``[2,h,w]`` -> ``[2,height,width]``, bilinear (the same rows :func:`compose_srgb8` uses)."""
    if tuple(ab_small.shape[-2:]) == (height, width):
        return ab_small.float()
    wide, i0, i1, w1 = _upsample_rows(ab_small, height, width)
    return torch.lerp(wide.index_select(1, i0), wide.index_select(1, i1), w1)


def compose_srgb8(
    lightness: torch.Tensor, ab_small: torch.Tensor, chunk_rows: int = 64, workers: int | None = None
) -> torch.Tensor:
    """Full-resolution ``L*`` ``[1,H,W]`` + small ``a*b*`` ``[2,h,w]`` -> sRGB uint8 ``[H,W,3]``.

    The ab is upsampled bilinearly to ``H x W`` (not at all when ``h, w == H, W``) and joined with the
    untouched ``L*``, then rendered by :func:`~colorization.color.srgb.lab_to_srgb`. On the CPU the work runs
    ``chunk_rows`` rows at a time on ``workers`` threads (see :func:`~colorization.color.chunks.for_each_chunk`);
    elsewhere in one go.
    """
    height, width = lightness.shape[-2:]
    out = torch.empty((height, width, 3), dtype=torch.uint8, device=lightness.device)
    same_size = tuple(ab_small.shape[-2:]) == (height, width)
    if not same_size:
        wide, i0, i1, w1 = _upsample_rows(ab_small, height, width)

    def work(r: int) -> None:
        rows = slice(r, r + step)
        if same_size:
            ab = ab_small[:, rows].float()
        else:
            ab = torch.lerp(wide.index_select(1, i0[rows]), wide.index_select(1, i1[rows]), w1[rows])
        out[rows] = lab_to_srgb(lightness[:, rows], ab, channels_last=True)

    if lightness.device.type == "cpu":
        step = max(1, chunk_rows)
        for_each_chunk(work, height, step, workers)
    else:
        step = height
        work(0)
    return out
