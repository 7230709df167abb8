"""sRGB in and out: the lightness of any photo, and the one rendering of LAB as the sRGB a person sees.

**In** (:func:`lightness_from_srgb8`, :func:`lightness_from_gray16`, :func:`lightness_from_srgb_float`): decoded
sRGB samples -> CIE ``L*`` ``[1, H, W]`` float32 in [0, 100], computed in float from all the bits there are.

**Out** (:func:`lab_to_srgb`, :func:`render_normalized`): every picture of this project -- ``colorize``'s files,
``predict_step``, the sample grids on disk and in W&B, the study grids, eval's saved images -- is rendered by
:func:`lab_to_srgb`, so one prediction looks the same wherever it is seen. Colours outside the sRGB gamut are
pulled towards the gray of the same luminance ``Y`` in linear RGB (``Y`` is a weighted mean of R, G, B with
weights summing to one, so the mix keeps ``Y`` and hence ``L*`` exactly) instead of being clipped per channel,
which would change the lightness.

uint8 output goes through a 2**16-entry lookup table of the transfer curve (worst error 0.03 of an 8-bit level),
which keeps a 12-megapixel photo at tens of milliseconds per step on two cores.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from colorization.color.chunks import for_each_chunk
from colorization.color.cie import (
    D65_WHITE,
    XYZ_TO_SRGB,
    Y_WEIGHTS,
    lab_f_inverse_,
    lightness_of_y_,
    linear_to_srgb,
    srgb_to_linear,
)
from colorization.color.encoding import normalized_to_ab, normalized_to_lightness

__all__ = [
    "lab_to_srgb",
    "lightness_from_gray16",
    "lightness_from_srgb8",
    "lightness_from_srgb_float",
    "render_normalized",
]

_LINEAR_LUT_BITS = 16  # linear [0,1] -> sRGB8 table size 2**16


# ---------------------------------------------------------------------------------------------- lightness in
@functools.lru_cache(maxsize=4)
def _srgb_to_y_tables(levels: int) -> tuple[np.ndarray, np.ndarray]:
    """For integer samples 0..levels-1: (linear value, L* of the gray of that value), both float32."""
    linear = srgb_to_linear(torch.arange(levels, dtype=torch.float64) / (levels - 1))
    lightness = lightness_of_y_(linear.clone())
    return linear.float().numpy(), lightness.float().numpy()


def lightness_from_srgb8(pixels: np.ndarray, chunk_rows: int = 64, workers: int | None = None) -> torch.Tensor:
    """sRGB uint8 ``[H,W]`` (gray) or ``[H,W,3]`` -> ``L*`` ``[1,H,W]`` float32 in [0,100].

    ``chunk_rows`` rows are converted at a time (cache-sized temporaries), on ``workers`` threads.
    """
    if pixels.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {pixels.dtype}")
    linear, gray_l = _srgb_to_y_tables(256)
    if pixels.ndim == 2:
        return torch.from_numpy(np.take(gray_l, pixels))[None]
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected [H,W] or [H,W,3] pixels, got {pixels.shape}")
    tables = [linear * np.float32(w) for w in Y_WEIGHTS]
    out = np.empty(pixels.shape[:2], np.float32)

    def work(r: int) -> None:
        rows = pixels[r : r + chunk_rows]
        y = np.take(tables[0], rows[..., 0])
        y += np.take(tables[1], rows[..., 1])
        y += np.take(tables[2], rows[..., 2])
        out[r : r + chunk_rows] = lightness_of_y_(torch.from_numpy(y)).numpy()

    for_each_chunk(work, pixels.shape[0], chunk_rows, workers)
    return torch.from_numpy(out)[None]


def lightness_from_gray16(pixels: np.ndarray) -> torch.Tensor:
    """16-bit gray ``[H,W]`` (0..65535, sRGB-encoded) -> ``L*`` ``[1,H,W]`` float32, from all 16 bits."""
    _, gray_l = _srgb_to_y_tables(65536)
    idx = np.clip(pixels, 0, 65535).astype(np.int32, copy=False)
    return torch.from_numpy(np.take(gray_l, idx))[None]


def lightness_from_srgb_float(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB float ``[...,C,H,W]`` in [0,1], C = 1 (gray) or 3 -> ``L*`` ``[...,1,H,W]`` float32."""
    linear = srgb_to_linear(rgb.float().clamp(0.0, 1.0))
    if linear.shape[-3] == 3:
        w = torch.tensor(Y_WEIGHTS, dtype=linear.dtype, device=linear.device).view(3, 1, 1)
        y = (linear * w).sum(dim=-3, keepdim=True)
    elif linear.shape[-3] == 1:
        y = linear
    else:
        raise ValueError(f"expected 1 or 3 channels, got shape {tuple(rgb.shape)}")
    return lightness_of_y_(y)


# ---------------------------------------------------------------------------------------------- colour out
@functools.lru_cache(maxsize=4)
def _linear_to_srgb8_table(device: torch.device) -> torch.Tensor:
    n = 1 << _LINEAR_LUT_BITS
    srgb = linear_to_srgb(torch.arange(n, dtype=torch.float64) / (n - 1))
    return srgb.mul(255.0).round().to(torch.uint8).to(device)


def _linear_rgb_in_gamut(lightness: torch.Tensor, ab: torch.Tensor) -> list[torch.Tensor]:
    """``L*`` ``[...,1,H,W]``, ``a*b*`` ``[...,2,H,W]`` -> linear R, G, B ``[...,1,H,W]`` each in [0,1].

    Out-of-gamut colours move along the line to the gray of equal luminance Y until they fit, so Y is kept.
    """
    fy = lightness.float().add(16.0).div_(116.0)
    x = lab_f_inverse_(torch.add(fy, ab[..., 0:1, :, :].float(), alpha=1.0 / 500.0))
    z = lab_f_inverse_(torch.add(fy, ab[..., 1:2, :, :].float(), alpha=-1.0 / 200.0))
    y = lab_f_inverse_(fy)
    # d = linear RGB - Y, with the reference white folded into the matrix (rows of XYZ_TO_SRGB sum with Y to 1).
    d = []
    for row in XYZ_TO_SRGB:
        c = torch.mul(x, row[0] * D65_WHITE[0])
        c.add_(y, alpha=row[1] - 1.0).add_(z, alpha=row[2] * D65_WHITE[2])
        d.append(c)
    hi = torch.maximum(torch.maximum(d[0], d[1]), d[2])
    lo = torch.minimum(torch.minimum(d[0], d[1]), d[2])
    y.clamp_(0.0, 1.0)
    # Largest t <= 1 with y + t*d inside [0,1] for every channel; the tiny floor avoids 0/0 for pure grays.
    t = torch.rsub(y, 1.0).div_(hi.clamp_(min=1e-12))
    t = torch.minimum(t, y.div(lo.neg_().clamp_(min=1e-12))).clamp_(max=1.0)
    return [torch.addcmul(y, t, di).clamp_(0.0, 1.0) for di in d]


def lab_to_srgb(
    lightness: torch.Tensor, ab: torch.Tensor, dtype: torch.dtype = torch.uint8, channels_last: bool = False
) -> torch.Tensor:
    """``L*`` ``[...,1,H,W]`` in [0,100] and ``a*b*`` ``[...,2,H,W]`` -> sRGB ``[...,3,H,W]``: the one rendering.

    Out-of-gamut colours are desaturated towards the gray of equal luminance (see the module docstring), so
    the result's ``L*`` is the input's up to the output's quantisation. ``dtype`` uint8 gives 0..255 through
    a lookup table; a float dtype gives [0,1]. ``channels_last`` returns ``[...,H,W,3]`` (for image files).
    """
    channels = _linear_rgb_in_gamut(lightness, ab)
    if dtype == torch.uint8:
        table = _linear_to_srgb8_table(lightness.device)
        scale = float((1 << _LINEAR_LUT_BITS) - 1)
        channels = [
            table.index_select(0, c.mul_(scale).add_(0.5).to(torch.int32).reshape(-1)).view(c.shape)
            for c in channels
        ]
    else:
        channels = [linear_to_srgb(c).clamp_(0.0, 1.0).to(dtype) for c in channels]
    if channels_last:
        return torch.stack([c.squeeze(-3) for c in channels], dim=-1)
    return torch.cat(channels, dim=-3)


def render_normalized(L: torch.Tensor, ab: torch.Tensor, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    """Network floats ``L [B,1,H,W]``, ``ab [B,2,H,W]`` -> sRGB ``[B,3,H,W]`` by :func:`lab_to_srgb`."""
    return lab_to_srgb(normalized_to_lightness(L), normalized_to_ab(ab), dtype=dtype)
