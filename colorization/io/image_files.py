"""Image files: the one photo decoder, the one list of image suffixes, discovery and atomic writing.

Every consumer of photos -- the ``colorize`` command and API, ``eval.py data=folder``, the training folder
dataset, ``scan_images`` and ``data.prepare`` -- finds files and decodes them here, by these rules:

* **Which files**: inside a folder (searched recursively, in sorted order) or a glob, a file is an image when
  its suffix, in any case, is in :data:`IMAGE_SUFFIXES`; names starting with ``.`` (hidden files and folders,
  macOS ``._`` companions) are skipped. A file named on its own is always tried, whatever its suffix.
* **Symlink loops** named like images (or named on their own) are found too, so that every consumer reports
  them as unreadable (:class:`ImageReadError` "symlink loop") instead of a traceback or silence.
* **Frames**: an animation or multi-page file decodes to its first frame (``frames`` says how many it holds).
* **Orientation**: EXIF orientation applied first (the decoded image is upright; its EXIF keeps no orientation tag).
* **Samples**: the stored sRGB samples at full precision, as ``[H,W]`` (gray) or ``[H,W,3]`` (colour):
  8-bit gray and RGB as uint8; 16-bit gray (``I;16*``, and ``I``, clipped to 0..65535) as uint16; palette,
  CMYK, YCbCr, LAB and HSV images converted to RGB by Pillow; bilevel ``1`` as 0/255 gray and float ``F`` clipped
  to 0..255 gray (Pillow's rules). Pillow reads 16-bit colour files as 8-bit RGB (their top byte).
* **Alpha** (``LA``, ``RGBA``, ``PA``, premultiplied modes, palette or gray images with a transparent colour) is
  split off, uint8 ``[H,W]``, and never mixed into the samples: each consumer says what it does with it.
* **Lightness** (what ``colorize`` colours): CIE ``L*`` of the samples from all their bits, float32
  ``[1,H,W]`` in [0,100]. **RGB uint8** (what datasets store as LAB): the samples, 16-bit ones rounded to
  8 bits, gray repeated to three channels.
* **Writing**: under a temporary name in the target folder, then renamed (a crash never leaves half an image).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from colorization.color.srgb import lightness_from_gray16, lightness_from_srgb8
from colorization.io.atomic import atomic_write

__all__ = ["IMAGE_SUFFIXES", "DecodedImage", "ImageReadError", "decode_pil", "find_inputs", "image_files_under",
           "is_image_name", "is_symlink_loop", "read_image", "resolve_path", "save_format", "write_image"]

# Photo formats Pillow decodes without extra libraries (lower case; matched case-insensitively).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jfif", ".jpe", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".pnm", ".ppm",
                  ".tga", ".tif", ".tiff", ".webp")
# Pillow formats that hold an alpha channel when saved as RGBA.
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF", "TGA"})
# Formats saved under another name: multi-picture JPEGs from cameras are JPEGs.
_FORMAT_ALIASES = {"MPO": "JPEG"}
# Pillow modes converted to another mode before the samples are read (see the module docstring).
_CONVERTED_MODES = {"1": "L", "F": "L", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB",
                    "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "PA": "RGBA"}
_GRAY16 = 65535


class ImageReadError(ValueError):
    """A file that is not an image Pillow can decode (or is truncated/corrupt); the message names the path."""


@dataclass
class DecodedImage:
    """One decoded photo, upright.

    Attributes:
        samples: sRGB samples ``[H,W]`` (gray) or ``[H,W,3]`` (colour); uint8 in [0,255], or uint16 in
            [0,65535] for 16-bit gray.
        alpha: uint8 ``[H,W]`` in [0,255] (255 opaque), or None.
        format: Pillow's name of the file format (``'JPEG'``, ``'PNG'``, ...), or None for in-memory images.
        exif: EXIF bytes to carry into an output (orientation already applied and reset), or None.
        frames: how many frames the file holds (animations, multi-page TIFFs); these samples are the first.
    """

    samples: np.ndarray
    alpha: np.ndarray | None = None
    format: str | None = None
    exif: bytes | None = None
    frames: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.samples.shape[0]), int(self.samples.shape[1])

    @property
    def is_gray(self) -> bool:
        """Whether the file stores one channel (a gray mode), whatever its pixels look like."""
        return self.samples.ndim == 2

    @functools.cached_property
    def lightness(self) -> torch.Tensor:
        """CIE ``L*`` ``[1,H,W]`` float32 in [0,100], from all the samples' bits (alpha plays no part)."""
        if self.samples.dtype == np.uint16:
            return lightness_from_gray16(self.samples)
        return lightness_from_srgb8(self.samples)

    def rgb8(self, background: int | None = None) -> np.ndarray:
        """sRGB uint8 ``[H,W,3]``: 16-bit samples rounded to 8 bits, gray repeated to three channels.

        ``background``: None leaves alpha out; a gray level in [0,255] composites the image over that plain
        background (in sRGB values, as Pillow's ``alpha_composite`` does).
        """
        s = self.samples
        if s.dtype == np.uint16:
            s = ((s.astype(np.uint32) * 255 + _GRAY16 // 2) // _GRAY16).astype(np.uint8)
        rgb = np.repeat(s[..., None], 3, axis=2) if s.ndim == 2 else s
        if background is not None and self.alpha is not None:
            a = self.alpha.astype(np.uint32)[..., None]
            rgb = ((rgb.astype(np.uint32) * a + int(background) * (255 - a) + 127) // 255).astype(np.uint8)
        return np.require(rgb, np.uint8, ["C", "W"])  # writable: torch.from_numpy wants that


# ---------------------------------------------------------------------------------------------- decoding
def _exif_bytes(img: Image.Image) -> bytes | None:
    exif = img.getexif()
    return exif.tobytes() if len(exif) else None


def decode_pil(img: Image.Image) -> DecodedImage:
    """A Pillow image in any mode -> :class:`DecodedImage` by the module's rules."""
    fmt = img.format
    frames = int(getattr(img, "n_frames", 1))
    img = ImageOps.exif_transpose(img)  # a copy without the orientation tag, or the same image
    exif = _exif_bytes(img)
    if img.mode in ("P", "L") and "transparency" in img.info:
        img = img.convert("RGBA" if img.mode == "P" else "LA")
    elif img.mode == "P":
        img = img.convert("RGB")
    elif img.mode in _CONVERTED_MODES:
        img = img.convert(_CONVERTED_MODES[img.mode])
    alpha = None
    if img.mode in ("LA", "RGBA"):
        alpha = np.asarray(img.getchannel("A"))
        img = img.convert(img.mode[:-1])
    if img.mode in ("L", "RGB"):
        samples = np.asarray(img, dtype=np.uint8)
    elif img.mode.startswith("I"):
        samples = np.clip(np.asarray(img), 0, _GRAY16).astype(np.uint16)
    else:
        raise ImageReadError(f"unsupported image mode {img.mode!r}")
    return DecodedImage(samples=np.ascontiguousarray(samples), alpha=alpha, format=fmt, exif=exif, frames=frames)


@contextlib.contextmanager
def open_image(path: str | os.PathLike, reading: str = "as an image") -> Iterator[Image.Image]:
    """``Image.open(path)`` for a ``with`` body; a symlink loop or a read error becomes one :class:`ImageReadError`."""
    path = Path(path)
    if is_symlink_loop(path):
        raise ImageReadError(f"{path}: symlink loop")
    try:
        with Image.open(path) as img:
            yield img
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # Pillow signals truncated or corrupt data with OSError / SyntaxError / ValueError, by format.
        raise ImageReadError(f"{path}: cannot read {reading} ({e.__class__.__name__}: {e})") from e


def read_image(path: str | os.PathLike) -> DecodedImage:
    """Open and fully decode ``path``; raises :class:`ImageReadError` naming the path if it is unreadable."""
    with open_image(path) as img:
        img.load()
        return decode_pil(img)


# ---------------------------------------------------------------------------------------------- writing
def save_format(fmt: str | None, path: Path) -> str:
    """The Pillow format to write for an input of format ``fmt`` at ``path``: the same, else PNG."""
    fmt = _FORMAT_ALIASES.get(fmt or "", fmt)
    if fmt is None:
        fmt = Image.registered_extensions().get(path.suffix.lower())
    Image.init()
    return fmt if fmt in Image.SAVE else "PNG"


def write_image(
    rgb: np.ndarray | Sequence[np.ndarray],
    path: str | os.PathLike,
    fmt: str,
    alpha: np.ndarray | Sequence[np.ndarray | None] | None = None,
    exif: bytes | None = None,
    jpeg_quality: int = 95,
    **frame_options: Any,
) -> Path:
    """Write sRGB uint8 ``[H,W,3]`` (plus optional alpha ``[H,W]``) to ``path`` in Pillow format ``fmt``.

    Written to a temporary file in the same folder and renamed over ``path`` only when complete. Alpha is kept
    where the format can hold it. ``jpeg_quality`` applies to JPEG and WebP. A sequence of frames (and of their
    alphas) is written as one animated / multi-page file, with Pillow's ``frame_options`` (``duration``, ``loop``).
    """
    frames = [rgb] if isinstance(rgb, np.ndarray) else list(rgb)
    alphas = list(alpha) if isinstance(alpha, list | tuple) else [alpha] * len(frames)
    images = [Image.fromarray(frame, "RGB") for frame in frames]
    for img, a in zip(images, alphas, strict=True):
        if a is not None and fmt in _ALPHA_FORMATS:
            img.putalpha(Image.fromarray(a, "L"))
    options: dict = {"format": fmt}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = jpeg_quality
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        options["exif"] = exif
    if len(images) > 1:
        options.update(save_all=True, append_images=images[1:], **frame_options)
    # Seekable and readable: multi-page TIFFs are written by seeking back.
    return atomic_write(path, lambda fh: images[0].save(fh, **options))


# ---------------------------------------------------------------------------------------------- discovery
def is_image_name(path: Path) -> bool:
    """Whether a found file counts as an image: an image suffix (any case), not a hidden name."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def is_symlink_loop(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a symbolic link that never reaches a file (``ln -s loop loop``, or a -> b -> a)."""
    try:
        os.stat(path)
    except OSError as e:
        return e.errno == errno.ELOOP
    return False


def resolve_path(path: str | os.PathLike) -> Path:
    """``Path(path).resolve()``, except that a symlink loop (which makes it raise) gives its absolute path."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError on Python < 3.13, OSError after
        return Path(os.path.abspath(path))


def _found(path: Path) -> bool:
    """Whether a path a search found is an input: an image name, and a file or a symlink loop."""
    return is_image_name(path) and (path.is_file() or is_symlink_loop(path))


def image_files_under(root: str | os.PathLike) -> list[Path]:
    """The image files under folder ``root`` (and symlink loops named like them), recursively, sorted; nothing
    inside hidden folders. Symlinked folders are not entered (no cycles)."""
    root = Path(root)
    return [f for f in sorted(root.rglob("*"))
            if _found(f) and not any(part.startswith(".") for part in f.relative_to(root).parts)]


def _glob_root(pattern: str) -> Path:
    """The folder a glob searches from: its leading parts without wildcards."""
    parts = Path(pattern).parts
    first_magic = next((i for i, q in enumerate(parts) if glob.has_magic(q)), len(parts))
    return Path(*parts[:first_magic]) if first_magic else Path(".")


def find_inputs(
    patterns: list[str], exclude: Path | None = None
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files, folders (recursive) and globs into ``(path, relative output path)`` pairs.

    Which files count is the module docstring's rule. Files under ``exclude`` (the output folder) are skipped
    when a search walks into it from above, so re-running over a folder never colorizes earlier outputs
    (searching the output folder itself still finds its files). Returns the pairs, in a stable order without
    duplicates, and the patterns that matched nothing.
    """
    excluded = resolve_path(exclude) if exclude is not None else None
    seen: set[Path] = set()
    found: list[tuple[Path, Path]] = []
    unmatched: list[str] = []

    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            root, matches = p, [(f, f.relative_to(p)) for f in image_files_under(p)]
        elif p.is_file() or is_symlink_loop(p):
            root, matches = None, [(p, Path(p.name))]
        else:
            root = _glob_root(pattern)
            matches = [(Path(f), Path(Path(f).name)) for f in sorted(glob.glob(pattern, recursive=True))
                       if _found(Path(f))]
        if root is not None and excluded is not None and not resolve_path(root).is_relative_to(excluded):
            matches = [(f, rel) for f, rel in matches if not resolve_path(f).is_relative_to(excluded)]
        if not matches:
            unmatched.append(pattern)
        for f, rel in matches:
            key = resolve_path(f)
            if key not in seen:
                seen.add(key)
                found.append((f, rel))
    return found, unmatched
