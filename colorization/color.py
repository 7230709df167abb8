"""Colour conversions: sRGB <-> OpenCV 8-bit LAB, and the float encoding the networks see.

Two encodings meet here.

* **lab8** (storage, CPU): uint8 ``[..., 3, H, W]`` in OpenCV's 8-bit LAB encoding of sRGB (D65):
  ``L8 = L* * 255/100``, ``a8 = a* + 128``, ``b8 = b* + 128``. This is the Kaggle "image-colorization"
  encoding; every dataset yields it.
* **normalised** (device, float): ``L`` ``[B, 1, H, W]`` in ``[-1, 1]`` (``L*/50 - 1``) and ``ab``
  ``[B, 2, H, W]`` as ``ab*/128``, about ``[-1, 1]``.

All functions are pure tensor functions that work on any device and keep leading batch dimensions.
"""

from __future__ import annotations

import kornia.color as kc
import numpy as np
import torch

AB_SCALE = 128.0  # a*, b* are divided by this to land in about [-1, 1]
L8_PER_L = 255.0 / 100.0  # OpenCV stores L* in [0, 100] as L8 in [0, 255]
_D65_WHITE = (0.950456, 1.0, 1.088754)  # the reference white OpenCV uses

__all__ = [
    "AB_SCALE",
    "lab8_to_rgb",
    "lab8_to_lab",
    "lab_to_rgb",
    "rgb_to_lab8",
    "lab8_to_normalized",
    "normalized_to_lab8",
    "lab_to_normalized",
    "normalized_to_lab",
    "normalized_to_rgb",
]


def _as_tensor(x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, bool]:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    return x, False


def _check_uint8(x: torch.Tensor, name: str) -> None:
    if x.dtype != torch.uint8:
        raise TypeError(f"{name} must be uint8, got {x.dtype}")
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"{name} must be shaped [..., 3, H, W], got {tuple(x.shape)}")


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round().clamp_(0, 255).to(torch.uint8)


def rgb_to_lab8(rgb: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """sRGB uint8 ``[..., 3, H, W]`` -> OpenCV 8-bit LAB uint8 ``[..., 3, H, W]``.

    Agrees with ``cv2.cvtColor(img, cv2.COLOR_RGB2LAB)`` within +-1 per channel. A numpy input gives a numpy
    output.
    """
    t, was_numpy = _as_tensor(rgb)
    _check_uint8(t, "rgb")
    lab = kc.rgb_to_lab(t.float() / 255.0)
    out = torch.cat([lab[..., :1, :, :] * L8_PER_L, lab[..., 1:, :, :] + 128.0], dim=-3)
    out = _to_uint8(out)
    return out.numpy() if was_numpy else out


def lab8_to_lab(lab8: torch.Tensor) -> torch.Tensor:
    """OpenCV 8-bit LAB (uint8 or float) ``[..., 3, H, W]`` -> float L* in [0, 100], a*, b* in [-128, 127]."""
    x = lab8.float()
    return torch.cat([x[..., :1, :, :] / L8_PER_L, x[..., 1:, :, :] - 128.0], dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Float LAB ``[..., 3, H, W]`` (L* in [0,100]) -> float sRGB in [0, 1], clipped like OpenCV.

    kornia's ``lab_to_rgb`` clamps ``f(Z)`` at zero, which turns saturated blue-yellow colours at low
    lightness into different RGB than OpenCV produces; this follows the CIE formulas without that clamp and
    clips in linear RGB, so it agrees with ``cv2.COLOR_LAB2RGB``.
    """
    L, a, b = lab[..., 0:1, :, :], lab[..., 1:2, :, :], lab[..., 2:3, :, :]
    fy = (L + 16.0) / 116.0
    f = torch.cat([fy + a / 500.0, fy, fy - b / 200.0], dim=-3)
    xyz = torch.where(f > 6.0 / 29.0, f**3, (f - 4.0 / 29.0) * (3.0 * (6.0 / 29.0) ** 2))
    white = torch.tensor(_D65_WHITE, device=lab.device, dtype=xyz.dtype).view(3, 1, 1)
    linear = kc.xyz_to_rgb(xyz * white).clamp(0.0, 1.0)
    return kc.linear_rgb_to_rgb(linear).clamp(0.0, 1.0)


def lab8_to_rgb(lab8: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """OpenCV 8-bit LAB uint8 ``[..., 3, H, W]`` -> sRGB uint8 ``[..., 3, H, W]``.

    Agrees with ``cv2.cvtColor(img, cv2.COLOR_LAB2RGB)`` within +-1 per channel; out-of-gamut colours are
    clipped like OpenCV does.
    """
    t, was_numpy = _as_tensor(lab8)
    _check_uint8(t, "lab8")
    rgb = lab_to_rgb(lab8_to_lab(t))
    out = _to_uint8(rgb * 255.0)
    return out.numpy() if was_numpy else out


def lab8_to_normalized(lab8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 LAB batch ``[B, 3, H, W]`` -> ``(L [B,1,H,W] in [-1,1], ab [B,2,H,W] in about [-1,1])``.

    Runs on whatever device ``lab8`` lives on; this is the one place where stored bytes become network floats.
    """
    x = lab8.float()
    L = x[:, :1] * (2.0 / 255.0) - 1.0
    ab = (x[:, 1:] - 128.0) / AB_SCALE
    return L, ab


def normalized_to_lab8(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`lab8_to_normalized`: ``L [B,1,H,W]``, ``ab [B,2,H,W]`` -> uint8 LAB ``[B,3,H,W]``."""
    L8 = (L.float() + 1.0) * (255.0 / 2.0)
    ab8 = ab.float() * AB_SCALE + 128.0
    return _to_uint8(torch.cat([L8, ab8], dim=1))


def normalized_to_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """``L`` in [-1,1] ``[B,1,H,W]`` and ``ab`` ``[B,2,H,W]`` -> float LAB ``[B,3,H,W]`` (L* in [0,100])."""
    L_star = (L.float() + 1.0) * 50.0
    ab_star = (ab.float() * AB_SCALE).clamp(-128.0, 127.0)
    return torch.cat([L_star.clamp(0.0, 100.0), ab_star], dim=1)


def lab_to_normalized(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Float LAB ``[B,3,H,W]`` (L* in [0,100]) -> ``(L in [-1,1], ab / 128)``."""
    return lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / AB_SCALE


def normalized_to_rgb(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """``L`` ``[B,1,H,W]`` in [-1,1] and ``ab`` ``[B,2,H,W]`` -> float sRGB ``[B,3,H,W]`` in [0, 1].

    Used for metrics and pictures; differentiable, runs on the device.
    """
    return lab_to_rgb(normalized_to_lab(L, ab))
