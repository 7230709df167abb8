"""Colour: the OpenCV-exact uint8 LAB codec, the one bytes <-> floats encoding, and the one sRGB rendering.

* :mod:`~colorization.color.lab8` -- sRGB uint8 <-> OpenCV 8-bit LAB uint8, bit-exact with ``cv2``.
* :mod:`~colorization.color.encoding` -- stored bytes <-> network floats <-> ``L*a*b*`` floats.
* :mod:`~colorization.color.srgb` -- the lightness of a photo, and LAB -> the sRGB every picture shows.
* :mod:`~colorization.color.compose` -- full-resolution ``L*`` + small ``a*b*`` -> a photo.
* :mod:`~colorization.color.cie` -- the constants and formulas the others share, each once.
"""

from colorization.color.compose import compose_srgb8, upsample_ab
from colorization.color.encoding import (
    AB_SCALE,
    L8_PER_L,
    ab8_to_ab,
    ab_to_normalized,
    lab8_to_float,
    lab8_to_lab,
    lab8_to_normalized,
    lightness_to_normalized,
    normalize_lab8_,
    normalized_to_ab,
    normalized_to_lab,
    normalized_to_lab8,
    normalized_to_lightness,
)
from colorization.color.lab8 import lab8_to_rgb, rgb_to_lab8
from colorization.color.srgb import (
    lab_to_srgb,
    lightness_from_gray16,
    lightness_from_srgb8,
    lightness_from_srgb_float,
    render_normalized,
)

__all__ = [
    "AB_SCALE",
    "L8_PER_L",
    "ab8_to_ab",
    "ab_to_normalized",
    "compose_srgb8",
    "lab8_to_float",
    "lab8_to_lab",
    "lab8_to_normalized",
    "lab8_to_rgb",
    "lab_to_srgb",
    "lightness_from_gray16",
    "lightness_from_srgb8",
    "lightness_from_srgb_float",
    "lightness_to_normalized",
    "normalize_lab8_",
    "normalized_to_ab",
    "normalized_to_lab",
    "normalized_to_lab8",
    "normalized_to_lightness",
    "render_normalized",
    "rgb_to_lab8",
    "upsample_ab",
]
