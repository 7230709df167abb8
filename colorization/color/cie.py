"""CIE constants and formulas shared by every colour conversion, each written once.

sRGB with the D65 white, in the coefficients OpenCV uses (so stored Kaggle bytes and our floats agree):

* the sRGB transfer curve, :func:`srgb_to_linear` / :func:`linear_to_srgb` (values in [0, 1]);
* the linear-sRGB <-> XYZ matrices and the luminance row ``Y_WEIGHTS`` (it sums to 1: a gray keeps ``Y``);
* CIE ``f(t)`` and its inverse (the cube root with its linear toe), and ``L* = 116 f(Y) - 16``.

Functions take float tensors of any shape and device; numpy callers (table builders) pass
``torch.from_numpy``. The ``_`` suffix marks functions that work in place, as in torch.
"""

from __future__ import annotations

import torch

D65_WHITE = (0.950456, 1.0, 1.088754)  # the reference white OpenCV uses (X, Y, Z)
SRGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
XYZ_TO_SRGB = (
    (3.240479, -1.53715, -0.498535),
    (-0.969256, 1.875991, 0.041556),
    (0.055648, -0.204043, 1.057311),
)
Y_WEIGHTS = SRGB_TO_XYZ[1]  # linear sRGB -> relative luminance Y

EPS = 6.0 / 29.0  # the breakpoint of CIE f in f-space; (6/29)^3 in t-space
SRGB_DECODE_THRESHOLD = 0.04045  # encoded value where the sRGB curve leaves its linear toe
SRGB_ENCODE_THRESHOLD = 0.0031308  # the same point in linear light


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values in [0, 1] -> linear light in [0, 1] (any shape; a new tensor)."""
    curve = ((x.clamp(min=SRGB_DECODE_THRESHOLD) + 0.055) / 1.055) ** 2.4
    return torch.where(x <= SRGB_DECODE_THRESHOLD, x / 12.92, curve)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear light in [0, 1] -> sRGB-encoded values in [0, 1] (any shape; a new tensor)."""
    curve = 1.055 * x.clamp(min=SRGB_ENCODE_THRESHOLD) ** (1.0 / 2.4) - 0.055
    return torch.where(x <= SRGB_ENCODE_THRESHOLD, x * 12.92, curve)


# f and f^-1 are written branch-free with clamps: f(t) = cbrt(max(t, e^3)) + (min(t, e^3) - e^3) / (3e^2), equal
# to the textbook two-branch form. torch.where on big CPU tensors costs about 30x a clamp, and these run on
# every pixel of a 12-megapixel photo.
def lab_f_(t: torch.Tensor) -> torch.Tensor:
    """CIE ``f(t)`` in place (``t = X/Xn, Y/Yn, Z/Zn``): cube root above ``(6/29)^3``, linear below."""
    linear = t.clamp(max=EPS**3).sub_(EPS**3).mul_(1.0 / (3.0 * EPS**2))
    return t.clamp_(min=EPS**3).pow_(1.0 / 3.0).add_(linear)


def lab_f_inverse_(f: torch.Tensor) -> torch.Tensor:
    """CIE ``f^-1`` in place: ``f -> t`` (``f^3`` above ``6/29``, linear below)."""
    linear = f.clamp(max=EPS).sub_(EPS).mul_(3.0 * EPS**2)
    return f.clamp_(min=EPS).pow_(3).add_(linear)


def lightness_of_y_(y: torch.Tensor) -> torch.Tensor:
    """Relative luminance ``Y`` in [0, 1] -> ``L*`` in [0, 100], in place."""
    return lab_f_(y).mul_(116.0).sub_(16.0)
