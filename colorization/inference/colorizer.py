"""Colorize photos at full resolution: the Python API (``Colorizer``, ``colorize()``, ``load_colorizer()``).

How a photo is coloured: its lightness ``L*`` is computed at full resolution in float (any input mode; an RGB
photo is recoloured from its own ``L*``), a copy resized to ``size x size`` goes through the network, the
predicted ``a*b*`` is upsampled bilinearly back to the full size and joined with the untouched ``L*``, and
the result is rendered by :func:`colorization.color.lab_to_srgb` (luminance-preserving gamut mapping). So the
output's lightness is the input's, up to 8-bit rounding, at any resolution. Alpha takes no part in the
colours; a PIL image's alpha is carried to the output unchanged.

Python::

    from colorization import colorize, load_colorizer
    colorizer = load_colorizer("best.ckpt")          # device='auto', size=256
    rgb = colorizer(Image.open("old.jpg"))           # PIL in, PIL out; numpy and torch work the same way
    rgb = colorize(np_gray_uint8, colorizer)         # [H,W] uint8 -> [H,W,3] uint8
    rgb = colorizer.colorize_lab8(kaggle_lab8)       # uint8 OpenCV LAB [B,3,H,W] -> sRGB uint8 [B,H,W,3]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorization.color import (
    compose_srgb8,
    lab8_to_normalized,
    lab_to_srgb,
    lightness_from_srgb_float,
    lightness_to_normalized,
    normalized_to_ab,
    render_normalized,
    upsample_ab,
)
from colorization.inference.checkpoint import load_trained
from colorization.io.image_files import DecodedImage, decode_pil

__all__ = ["Colorizer", "colorize", "load_colorizer"]

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray, torch.Tensor)


# ---------------------------------------------------------------------------------------------- loading
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``'auto'`` -> CUDA when available, else CPU; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return dev


# ---------------------------------------------------------------------------------------------- core
class Colorizer:
    """A trained module ready to colour images: ``colorizer(image)`` returns the same kind of image.

    Args:
        module: a :class:`~colorization.inference.checkpoint.TrainedColorizer` (from :func:`load_colorizer`), or
            anything with ``colorize_normalized``: ``L [B,1,h,w]`` in [-1,1] -> ``ab [B,2,h,w]`` normalised.
        device: ``'auto'``, ``'cpu'``, ``'cuda'``, ... where the network and the pixel maths run.
        size: the network sees the lightness resized to ``size x size``; its ab is upsampled back.
        batch_size: photos per network call in :meth:`predict_ab`.
        chunk_rows: rows per step of the full-resolution LAB -> RGB on the CPU (cache-sized temporaries).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        device: str | torch.device = "auto",
        size: int = 256,
        batch_size: int = 8,
        chunk_rows: int = 64,
    ) -> None:
        if size < 1 or batch_size < 1 or chunk_rows < 1:
            raise ValueError(f"size, batch_size, chunk_rows must be >= 1: {size}, {batch_size}, {chunk_rows}")
        self.device = resolve_device(device)
        self.module = module.to(self.device).eval()
        self.size = int(size)
        self.batch_size = int(batch_size)
        self.chunk_rows = int(chunk_rows)

    def _to_network_size(self, x: torch.Tensor) -> torch.Tensor:
        """``[B,1,H,W]`` -> ``[B,1,size,size]`` float32 (area-averaged when shrinking, antialiased bilinear
        otherwise); values keep their units."""
        s = self.size
        if x.shape[-2] >= s and x.shape[-1] >= s:
            return F.interpolate(x.float(), size=(s, s), mode="area")
        return F.interpolate(x.float(), size=(s, s), mode="bilinear", antialias=True, align_corners=False)

    def network_input(self, lightness: torch.Tensor) -> torch.Tensor:
        """``L*`` ``[1,H,W]`` in [0,100] -> ``L`` ``[1,size,size]`` in [-1,1] on the device."""
        x = lightness.to(self.device, non_blocking=True)[None]
        return lightness_to_normalized(self._to_network_size(x)[0])

    @torch.inference_mode()
    def predict_ab(self, lightness: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Each ``L*`` ``[1,H,W]`` -> predicted ``a*b*`` ``[2,size,size]`` (on the device), batch by batch."""
        out: list[torch.Tensor] = []
        for i in range(0, len(lightness), self.batch_size):
            batch = torch.stack([self.network_input(lum) for lum in lightness[i : i + self.batch_size]])
            out.extend(normalized_to_ab(self.module.colorize_normalized(batch)).unbind(0))
        return out

    @torch.inference_mode()
    def compose(self, lightness: torch.Tensor, ab_small: torch.Tensor) -> np.ndarray:
        """Full-size ``L*`` ``[1,H,W]`` + predicted ``a*b*`` ``[2,size,size]`` -> sRGB uint8 ``[H,W,3]``."""
        rgb = compose_srgb8(lightness.to(ab_small.device), ab_small, self.chunk_rows)
        return rgb.cpu().numpy()

    @torch.inference_mode()
    def colorize_decoded(self, images: Sequence[DecodedImage]) -> list[np.ndarray]:
        """Decoded images -> sRGB uint8 ``[H,W,3]`` each, at each image's full size."""
        abs_ = self.predict_ab([d.lightness for d in images])
        return [self.compose(d.lightness, ab) for d, ab in zip(images, abs_, strict=True)]

    @torch.inference_mode()
    def colorize_lab8(self, lab8: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """uint8 OpenCV LAB ``[B,3,H,W]`` or ``[3,H,W]`` (e.g. Kaggle arrays) -> sRGB uint8 ``[B,H,W,3]`` /
        ``[H,W,3]`` in [0,255]: its ``L`` coloured (its ``ab`` is ignored); numpy in, numpy out, tensor in,
        tensor out (on the input's device).

        When ``H, W == size`` the network sees exactly ``lab8_to_normalized(lab8)[0]`` and the result is
        ``render_normalized(L, ab)`` pixel for pixel, as the training sample grids draw it. At other sizes
        ``L`` is resized to ``size`` for the network (as :meth:`network_input` does) and the predicted ab is
        upsampled bilinearly back to ``H x W``. ``batch_size`` images go through the network at a time.
        """
        x = torch.as_tensor(lab8)
        single = x.ndim == 3
        x = x[None] if single else x
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(torch.as_tensor(lab8).shape)
            raise ValueError(f"colorize_lab8 expects uint8 LAB [B,3,H,W] or [3,H,W], got {x.dtype} {shape}")
        height, width = x.shape[-2:]
        out = []
        for i in range(0, len(x), self.batch_size):
            L_ = lab8_to_normalized(x[i : i + self.batch_size].to(self.device))[0]
            same_size = (height, width) == (self.size, self.size)
            ab = self.module.colorize_normalized(L_ if same_size else self._to_network_size(L_))
            if tuple(ab.shape[-2:]) != (height, width):
                ab = torch.stack([upsample_ab(one, height, width) for one in ab])
            out.append(render_normalized(L_, ab).permute(0, 2, 3, 1))
        rgb = torch.cat(out)
        rgb = rgb[0] if single else rgb
        if isinstance(lab8, np.ndarray):
            return rgb.cpu().numpy()
        return rgb.to(lab8.device)

    def __call__(self, image: ImageLike) -> ImageLike:
        return colorize(image, self)


def load_colorizer(
    ckpt_path: str | os.PathLike,
    device: str | torch.device = "auto",
    size: int = 256,
    batch_size: int = 8,
    chunk_rows: int = 64,
) -> Colorizer:
    """A :class:`Colorizer` from a ``train.py`` checkpoint (no config, no network needed)."""
    dev = resolve_device(device)
    # Network + decode only (no Lightning import: seconds saved per process).
    return Colorizer(load_trained(ckpt_path, map_location=dev), dev, size, batch_size, chunk_rows)


def _as_colorizer(model: Colorizer | torch.nn.Module | str | os.PathLike, size: int | None) -> Colorizer:
    if isinstance(model, Colorizer):
        if size is None or size == model.size:
            return model
        return Colorizer(model.module, model.device, size, model.batch_size, model.chunk_rows)
    if isinstance(model, str | os.PathLike):
        return load_colorizer(model, size=size or 256)
    device = next(model.parameters()).device
    return Colorizer(model, device, size or 256)


# ---------------------------------------------------------------------------------------------- API
def _colorize_pil(image: Image.Image, colorizer: Colorizer) -> Image.Image:
    decoded = decode_pil(image)
    rgb = colorizer.colorize_decoded([decoded])[0]
    out = Image.fromarray(rgb, "RGB")
    if decoded.alpha is not None:
        out.putalpha(Image.fromarray(decoded.alpha, "L"))
    return out


def _colorize_float(lightness: torch.Tensor, colorizer: Colorizer) -> torch.Tensor:
    """``L*`` ``[B,1,H,W]`` -> float sRGB ``[B,3,H,W]`` in [0,1]."""
    abs_ = colorizer.predict_ab(list(lightness))
    height, width = lightness.shape[-2:]
    outs = []
    with torch.inference_mode():
        for lum, ab in zip(lightness, abs_, strict=True):
            full = upsample_ab(ab, height, width)
            outs.append(lab_to_srgb(lum.to(full.device), full, dtype=torch.float32))
    return torch.stack(outs)


def _colorize_numpy(image: np.ndarray, colorizer: Colorizer) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]  # alpha does not take part in colour; the caller keeps it if needed
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected a [H,W] or [H,W,3] image, got shape {image.shape}")
    if image.dtype == np.uint8:
        decoded = DecodedImage(samples=np.ascontiguousarray(image))
        return colorizer.colorize_decoded([decoded])[0]
    if image.dtype == np.uint16 and image.ndim == 2:
        decoded = DecodedImage(samples=image)
        return (colorizer.colorize_decoded([decoded])[0].astype(np.uint16) * 257).astype(np.uint16)
    if np.issubdtype(image.dtype, np.floating):
        t = torch.from_numpy(np.array(image, dtype=np.float32))  # a copy: the caller's array may be read-only
        t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
        rgb = _colorize_float(lightness_from_srgb_float(t)[None], colorizer)[0]
        return rgb.permute(1, 2, 0).cpu().numpy().astype(image.dtype)
    raise TypeError(f"numpy images must be uint8, uint16 (gray) or float in [0,1], got {image.dtype}")


def _colorize_tensor(image: torch.Tensor, colorizer: Colorizer) -> torch.Tensor:
    batched = image.ndim == 4
    x = image if batched else image[None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected a [C,H,W] or [B,C,H,W] tensor with C = 1 or 3, got {tuple(image.shape)}")
    if x.dtype == torch.uint8:
        src = x.permute(0, 2, 3, 1).cpu().numpy()
        decoded = [DecodedImage(samples=np.ascontiguousarray(img[..., 0] if img.shape[2] == 1 else img))
                   for img in src]
        rgb = np.stack(colorizer.colorize_decoded(decoded))
        out = torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous().to(image.device)
    elif x.is_floating_point():
        out = _colorize_float(lightness_from_srgb_float(x), colorizer).to(image.device, image.dtype)
    else:
        raise TypeError(f"tensor images must be uint8 or float in [0,1], got {image.dtype}")
    return out if batched else out[0]


def colorize(
    image: ImageLike, model: Colorizer | torch.nn.Module | str | os.PathLike, size: int | None = None
) -> ImageLike:
    """Colour one image at its full resolution; the result is the same kind of image.

    Args:
        image: a PIL image in any mode (-> RGB, or RGBA keeping its alpha); a numpy ``[H,W]`` / ``[H,W,3]``
            array, uint8 (-> uint8 ``[H,W,3]``), uint16 gray (-> uint16) or float in [0,1] (-> float); or a
            tensor ``[C,H,W]`` / ``[B,C,H,W]``, C = 1 or 3, uint8 or float in [0,1] (-> ``[..,3,H,W]``, same
            dtype and device). Colour inputs are recoloured from their own lightness.
        model: a :class:`Colorizer`, a network module with ``colorize_normalized`` (``TrainedColorizer``, a
            training module), or a checkpoint path.
        size: the network's input size (default: the colorizer's, 256 otherwise).
    """
    colorizer = _as_colorizer(model, size)
    if isinstance(image, Image.Image):
        return _colorize_pil(image, colorizer)
    if isinstance(image, np.ndarray):
        return _colorize_numpy(image, colorizer)
    if isinstance(image, torch.Tensor):
        return _colorize_tensor(image, colorizer)
    raise TypeError(f"colorize() takes a PIL image, a numpy array or a tensor, got {type(image).__name__}")
