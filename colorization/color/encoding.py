"""The one encoding between stored bytes and network floats, both ways.

* **lab8** (storage): uint8 ``[B, 3, H, W]``, OpenCV's 8-bit LAB (``L8 = 2.55 L*``, ``a8 = a* + 128``).
* **normalised** (network): ``L`` ``[B, 1, H, W]`` = ``L*/50 - 1`` in [-1, 1] and ``ab`` ``[B, 2, H, W]`` =
  ``ab*/128``, about [-1, 1].
* **LAB floats** (pixel maths and pictures): ``L*`` in [0, 100], ``a*``, ``b*`` in about [-128, 127].

Every conversion between these lives here and nowhere else: the datamodule, the LightningModule, the sample
grids, eval, ``colorize`` and export all call these functions. All are pure tensor functions that run on
whatever device their input lives on.
"""

from __future__ import annotations

import torch

from colorization.color.buffers import FloatBufferPool

__all__ = [
    "AB_SCALE",
    "L8_PER_L",
    "ab8_to_ab",
    "ab_to_normalized",
    "lab8_to_float",
    "lab8_to_lab",
    "lab8_to_normalized",
    "lightness_to_normalized",
    "normalize_lab8_",
    "normalized_to_ab",
    "normalized_to_lab",
    "normalized_to_lab8",
    "normalized_to_lightness",
]

AB_SCALE = 128.0  # a*, b* are divided by this to land in about [-1, 1]
L8_PER_L = 255.0 / 100.0  # OpenCV stores L* in [0, 100] as L8 in [0, 255]


def normalize_lab8_(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """In place: float LAB ``[B, 3, H, W]`` in the 0..255 byte scale -> ``(L, ab)``, channel views of ``x``.

    The one formula from bytes to network floats; :func:`lab8_to_normalized` and the datamodule's augmented
    batches both end here. ``.contiguous()`` the views if a caller needs to flatten the batch dimension.
    """
    L = x[:, :1].mul_(2.0 / 255.0).sub_(1.0)
    ab = x[:, 1:].sub_(128.0).div_(AB_SCALE)
    return L, ab


def lab8_to_float(lab8: torch.Tensor, pool: FloatBufferPool | None = None) -> torch.Tensor:
    """uint8 (or float) LAB ``[B, 3, H, W]`` -> a float32 copy in the 0..255 byte scale, the caller's to modify.

    ``pool`` reuses CPU buffers (see :class:`~colorization.color.buffers.FloatBufferPool`).
    """
    if lab8.dtype == torch.uint8 and pool is not None and lab8.device.type == "cpu":
        return pool.get(tuple(lab8.shape)).copy_(lab8)
    return lab8.float() if lab8.dtype != torch.float32 else lab8.clone()


def lab8_to_normalized(
    lab8: torch.Tensor, pool: FloatBufferPool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 LAB ``[B, 3, H, W]`` -> ``(L [B,1,H,W] in [-1,1], ab [B,2,H,W] in about [-1,1])``.

    One float copy, scaled in place (half the memory traffic of separate tensors). A float input (already in
    the 0..255 scale) is copied, never modified. ``pool`` reuses CPU buffers.
    """
    return normalize_lab8_(lab8_to_float(lab8, pool))


def normalized_to_lightness(L: torch.Tensor) -> torch.Tensor:
    """``L`` in [-1, 1] (any shape) -> ``L*`` in [0, 100], float32, clamped."""
    return (L.float() + 1.0).mul_(50.0).clamp_(0.0, 100.0)


def lightness_to_normalized(lightness: torch.Tensor) -> torch.Tensor:
    """``L*`` in [0, 100] (any shape) -> ``L`` in [-1, 1], float32, clamped."""
    return lightness.float().div(50.0).sub_(1.0).clamp_(-1.0, 1.0)


def normalized_to_ab(ab: torch.Tensor) -> torch.Tensor:
    """Normalised ``ab`` (any shape) -> ``a*b*`` (``x128``; about [-128, 127], not clamped), float32."""
    return ab.float().mul(AB_SCALE)


def ab_to_normalized(ab_star: torch.Tensor) -> torch.Tensor:
    """``a*b*`` (any shape) -> normalised ``ab`` (``/128``), float32."""
    return ab_star.float().div(AB_SCALE)


def normalized_to_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """``L [B,1,H,W]``, ``ab [B,2,H,W]`` normalised -> float LAB ``[B,3,H,W]``, clamped to ``L*`` in [0,100],
    ``a*b*`` in [-128, 127] (the range 8-bit LAB can store)."""
    return torch.cat([normalized_to_lightness(L), normalized_to_ab(ab).clamp_(-128.0, 127.0)], dim=1)


def normalized_to_lab8(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`lab8_to_normalized`: ``L [B,1,H,W]``, ``ab [B,2,H,W]`` -> uint8 LAB ``[B,3,H,W]``."""
    L8 = (L.float() + 1.0) * (255.0 / 2.0)
    ab8 = ab.float() * AB_SCALE + 128.0
    return torch.cat([L8, ab8], dim=1).round_().clamp_(0, 255).to(torch.uint8)


def ab8_to_ab(ab8: torch.Tensor) -> torch.Tensor:
    """Stored ``a8``/``b8`` bytes (any shape, uint8 or float) -> ``a*``/``b*`` in [-128, 127], float32."""
    return ab8.float() - 128.0


def lab8_to_lab(lab8: torch.Tensor) -> torch.Tensor:
    """OpenCV 8-bit LAB (uint8 or float) ``[..., 3, H, W]`` -> float ``L*`` in [0, 100], ``a*b*`` in [-128, 127]."""
    x = lab8.float()
    return torch.cat([x[..., :1, :, :] / L8_PER_L, ab8_to_ab(x[..., 1:, :, :])], dim=-3)
