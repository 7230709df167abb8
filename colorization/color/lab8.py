"""OpenCV's 8-bit LAB codec: sRGB uint8 <-> LAB uint8, bit-exact with ``cv2.cvtColor``.

**lab8** is how every image of this project is stored: uint8 ``[..., 3, H, W]`` in OpenCV's 8-bit LAB encoding
of sRGB (D65), ``L8 = L* * 255/100``, ``a8 = a* + 128``, ``b8 = b* + 128`` -- the Kaggle "image-colorization"
encoding. Both functions work on any device, keep leading batch dimensions, and give numpy for numpy input.
How these bytes become network floats is :mod:`colorization.color.encoding`.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from colorization.color.cie import D65_WHITE, SRGB_TO_XYZ, XYZ_TO_SRGB, linear_to_srgb, srgb_to_linear

__all__ = ["lab8_to_rgb", "rgb_to_lab8"]


def _as_tensor(x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, bool]:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    return x, False


def _check_uint8(x: torch.Tensor, name: str) -> None:
    if x.dtype != torch.uint8:
        raise TypeError(f"{name} must be uint8, got {x.dtype}")
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"{name} must be shaped [..., 3, H, W], got {tuple(x.shape)}")


def rgb_to_lab8(rgb: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """sRGB uint8 ``[..., 3, H, W]`` -> OpenCV 8-bit LAB uint8 ``[..., 3, H, W]``.

    Bit-exact with ``cv2.cvtColor(img, cv2.COLOR_RGB2LAB)`` on all 2**24 colours: it follows OpenCV's
    fixed-point path (tables below). A numpy input gives a numpy output; a tensor stays on its device.
    """
    t, was_numpy = _as_tensor(rgb)
    _check_uint8(t, "rgb")
    out = _rgb8_to_lab8_fixed(t)
    return out.numpy() if was_numpy else out


def lab8_to_rgb(lab8: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """OpenCV 8-bit LAB uint8 ``[..., 3, H, W]`` -> sRGB uint8 ``[..., 3, H, W]``.

    Bit-exact with ``cv2.cvtColor(img, cv2.COLOR_LAB2RGB)`` (OpenCV's integer path, out-of-gamut colours
    clipped per channel the same way). This is for storage round trips; pictures a person sees are rendered by
    :func:`colorization.color.srgb.lab_to_srgb`. A numpy input gives a numpy output.
    """
    t, was_numpy = _as_tensor(lab8)
    _check_uint8(t, "lab8")
    out = _lab8_to_rgb8_fixed(t)
    return out.numpy() if was_numpy else out


# ----------------------------------------------------------------------------------------------------------
# OpenCV's 8-bit fixed-point path, reproduced in integer tensor ops.
#
# cv2's uint8 RGB<->LAB does not evaluate the CIE formulas: it rounds them into small integer lookup
# tables (gamma, cube root, L -> (Y, f(Y)), f -> X/Z) and fixed-point matrices, and the rounding of those
# tables moves dark colours up to 3 levels away from the exact float result. Data stored by OpenCV (the
# Kaggle set) carries those exact bytes, so we rebuild the same tables (in float32 where OpenCV uses its
# soft float32) and apply the same integer arithmetic. Tables are built once with numpy, cached per device.
# ----------------------------------------------------------------------------------------------------------

_XYZ_SHIFT = 12  # fixed-point bits of the colour matrices
_GAMMA_SHIFT = 3  # extra bits of the linearised RGB
_LAB_SHIFT2 = _XYZ_SHIFT + _GAMMA_SHIFT
_INV_GAMMA_SHIFT = 12  # linear RGB -> sRGB table has 2**12 entries
_LUT_BASE_SHIFT = 14  # fixed-point bits of Y and f(Y) on the way back
_LUT_BASE = 1 << _LUT_BASE_SHIFT
_MIN_AB = -8145  # smallest f(X) / f(Z) index the inverse table covers
_F32 = np.float32


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return srgb_to_linear(torch.from_numpy(x.astype(np.float64))).numpy()


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    return linear_to_srgb(torch.from_numpy(x.astype(np.float64))).numpy()


def _round_f32(x: np.ndarray) -> np.ndarray:
    # OpenCV rounds its soft-float32 results half to even.
    return np.rint(np.asarray(x, dtype=_F32)).astype(np.int64)


def _lab_f_f32(x: np.ndarray) -> np.ndarray:
    """CIE f(t) in float32, as OpenCV's table builder computes it (threshold (6/29)^3, slope 841/108)."""
    lthresh, lscale, lbias = _F32(216.0 / 24389.0), _F32(841.0 / 108.0), _F32(16.0 / 116.0)
    lin = (x.astype(np.float64) * np.float64(lscale) + np.float64(lbias)).astype(_F32)  # fused multiply-add
    return np.where(x < lthresh, lin, np.cbrt(x.astype(np.float64)).astype(_F32))


@functools.lru_cache(maxsize=1)
def _fixed_tables_np() -> dict[str, np.ndarray]:
    gamma_scale = 255 << _GAMMA_SHIFT
    i256 = np.arange(256)
    gamma = _round_f32(_F32(gamma_scale) * _srgb_to_linear(i256.astype(_F32) / _F32(255)).astype(_F32))
    n_cbrt = 256 * 3 // 2 * (1 << _GAMMA_SHIFT)
    x = (_F32(1.0) / _F32(gamma_scale)) * np.arange(n_cbrt).astype(_F32)
    cbrt = _round_f32(_F32(1 << _LAB_SHIFT2) * _lab_f_f32(x))
    # At i = 324 the scaled cube root is an exact float32 tie (17745.5); OpenCV's soft-float cbrt lands one
    # ulp below it and rounds down. Checked against cv2 on all 2**24 colours: the only entry that differs.
    cbrt[324] = 17745
    rgb2xyz = np.array([[round((1 << _XYZ_SHIFT) * c / w) for c in row]
                        for row, w in zip(SRGB_TO_XYZ, D65_WHITE, strict=True)], dtype=np.int64)

    # L8 -> (Y, f(Y)) scaled by LUT_BASE; the dark part is the linear branch of f.
    y_tab, fy_tab = np.zeros(256, np.int64), np.zeros(256, np.int64)
    for i in range(256):
        if i <= 20:
            y_tab[i] = _round_f32(_F32(i * _LUT_BASE * 20 * 9) / _F32(17 * 29 * 29 * 29))
            fy = _F32(_LUT_BASE) * (_F32(16) / _F32(116) + _F32(i * 5) / _F32(3 * 17 * 29))
            fy_tab[i] = _round_f32(fy)
        else:
            fy = _F32(i * 100 * _LUT_BASE) / _F32(255 * 116) + _F32(16 * _LUT_BASE) / _F32(116)
            fy_tab[i] = _round_f32(fy)
            y_tab[i] = _round_f32(fy * fy * fy / _F32(_LUT_BASE * _LUT_BASE))
    # f -> X (or Z), integer arithmetic truncating towards zero like C.
    f = np.arange(_MIN_AB, _LUT_BASE * 9 // 4 + _MIN_AB, dtype=np.int64)
    lin_part = np.trunc(f * 108 / 841).astype(np.int64) - (_LUT_BASE * 16 // 116 * 108 // 841)
    cube_part = (f * f // _LUT_BASE) * f // _LUT_BASE
    ab_to_xz = np.where(f <= 3390, lin_part, cube_part)
    xyz2rgb = np.array([[round((1 << _XYZ_SHIFT) * c * w) for c, w in zip(row, D65_WHITE, strict=True)]
                        for row in XYZ_TO_SRGB], dtype=np.int64)
    n_inv = 1 << _INV_GAMMA_SHIFT
    xi = (_F32(1.0) / _F32(n_inv)) * np.arange(n_inv).astype(_F32)
    inv_gamma = _round_f32(_F32(255) * _linear_to_srgb(xi).astype(_F32))
    return {"gamma": gamma, "cbrt": cbrt, "rgb2xyz": rgb2xyz, "y": y_tab, "fy": fy_tab,
            "ab_to_xz": ab_to_xz, "xyz2rgb": xyz2rgb, "inv_gamma": inv_gamma}


_TABLE_CACHE: dict[torch.device, dict[str, torch.Tensor]] = {}


def _fixed_tables(device: torch.device) -> dict[str, torch.Tensor]:
    if device not in _TABLE_CACHE:
        _TABLE_CACHE[device] = {k: torch.from_numpy(v).to(device) for k, v in _fixed_tables_np().items()}
    return _TABLE_CACHE[device]


def _descale(x: torch.Tensor, n: int) -> torch.Tensor:
    return (x + (1 << (n - 1))) >> n


def _matmul_channels(m: torch.Tensor, c: tuple[torch.Tensor, ...], row: int) -> torch.Tensor:
    """Row ``row`` of the integer matrix ``m`` applied to three channel tensors."""
    return m[row, 0] * c[0] + m[row, 1] * c[1] + m[row, 2] * c[2]


def _rgb8_to_lab8_fixed(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``[..., 3, H, W]`` -> uint8 LAB, OpenCV's integer algorithm (int64 arithmetic)."""
    t = _fixed_tables(rgb.device)
    lin = t["gamma"][rgb.long()]  # linear RGB * 2040
    chans = (lin[..., 0, :, :], lin[..., 1, :, :], lin[..., 2, :, :])
    fx, fy, fz = (t["cbrt"][_descale(_matmul_channels(t["rgb2xyz"], chans, r), _XYZ_SHIFT)] for r in range(3))
    l_scale = (116 * 255 + 50) // 100
    l_shift = -((16 * 255 * (1 << _LAB_SHIFT2) + 50) // 100)
    offset = 128 * (1 << _LAB_SHIFT2)
    L = _descale(l_scale * fy + l_shift, _LAB_SHIFT2)
    a = _descale(500 * (fx - fy) + offset, _LAB_SHIFT2)
    b = _descale(200 * (fy - fz) + offset, _LAB_SHIFT2)
    return torch.stack([L, a, b], dim=-3).clamp_(0, 255).to(torch.uint8)


def _lab8_to_rgb8_fixed(lab8: torch.Tensor) -> torch.Tensor:
    """uint8 LAB ``[..., 3, H, W]`` -> uint8 RGB, OpenCV's integer algorithm (int64 arithmetic)."""
    t = _fixed_tables(lab8.device)
    x = lab8.long()
    L8, a8, b8 = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    y, fy = t["y"][L8], t["fy"][L8]
    # a8 * BASE/500 and b8 * BASE/200 in OpenCV's shift-and-multiply approximations.
    adiv = ((5 * a8 * 53687 + (1 << 7)) >> 13) - 128 * _LUT_BASE // 500
    bdiv = ((b8 * 41943 + (1 << 4)) >> 9) - 128 * _LUT_BASE // 200 + 1
    xz = t["ab_to_xz"]
    X, Z = xz[fy + adiv - _MIN_AB], xz[fy - bdiv - _MIN_AB]
    shift = _XYZ_SHIFT + (_LUT_BASE_SHIFT - _INV_GAMMA_SHIFT)
    top = (1 << _INV_GAMMA_SHIFT) - 1
    rgb = [_descale(_matmul_channels(t["xyz2rgb"], (X, y, Z), r), shift).clamp_(0, top) for r in range(3)]
    return t["inv_gamma"][torch.stack(rgb, dim=-3)].to(torch.uint8)
