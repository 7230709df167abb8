"""Image files: decode any photo, write results atomically, and find the images a user named.

Reading: every Pillow mode a user's photo may come in (8/16-bit gray, gray+alpha, RGB, RGBA, palette, CMYK,
...) becomes the CIE lightness ``L*`` ``[1,H,W]`` float32 in [0,100] (from all the bits the file has, see
:mod:`colorization.color.srgb`), plus the alpha channel when there is one. EXIF orientation is applied first.

Writing: files are written under a temporary name in the target folder, then renamed, so a crash never leaves
a half-written image.
"""

from __future__ import annotations

import glob
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from colorization.color.srgb import lightness_from_gray16, lightness_from_srgb8

__all__ = [
    "DecodedImage",
    "ImageReadError",
    "decode_pil",
    "find_inputs",
    "read_image",
    "save_format",
    "write_image",
]

# Pillow formats that hold an alpha channel when saved as RGBA.
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF", "TGA"})
# Formats saved under another name: multi-picture JPEGs from cameras are JPEGs.
_FORMAT_ALIASES = {"MPO": "JPEG"}


class ImageReadError(ValueError):
    """A file that is not an image Pillow can decode (or is truncated/corrupt); the message names the path."""


@dataclass
class DecodedImage:
    """One decoded input.

    Attributes:
        lightness: ``L*`` ``[1,H,W]`` float32 in [0,100] at full resolution (after EXIF orientation).
        alpha: ``[H,W]`` uint8 alpha, or None.
        format: Pillow's name of the file format (``'JPEG'``, ``'PNG'``, ...), or None for in-memory images.
        exif: EXIF bytes to carry into the output (orientation already applied and reset), or None.
    """

    lightness: torch.Tensor
    alpha: np.ndarray | None = None
    format: str | None = None
    exif: bytes | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.lightness.shape[-2]), int(self.lightness.shape[-1])


# ---------------------------------------------------------------------------------------------- decoding
def _exif_bytes(img: Image.Image) -> bytes | None:
    exif = img.getexif()
    return exif.tobytes() if len(exif) else None


def decode_pil(img: Image.Image) -> DecodedImage:
    """A Pillow image in any mode -> :class:`DecodedImage` (EXIF orientation applied, alpha split off)."""
    fmt = img.format
    img = ImageOps.exif_transpose(img)  # a copy without the orientation tag, or the same image
    exif = _exif_bytes(img)
    alpha: np.ndarray | None = None
    mode = img.mode
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if (mode == "PA" or "transparency" in img.info) else "RGB")
    elif mode == "La":
        img = img.convert("LA")
    elif mode in ("RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGBA" if mode == "RGBa" else "RGB")
    elif mode in ("1", "F"):
        img = img.convert("L")  # Pillow's own rule for these: 1 -> 0/255, F clipped to 0..255
    elif mode == "L" and "transparency" in img.info:
        img = img.convert("LA")
    mode = img.mode
    if mode in ("LA", "RGBA"):
        alpha = np.asarray(img.getchannel("A"))
        img = img.convert(mode[:-1])
        mode = img.mode
    if mode == "L":
        lightness = lightness_from_srgb8(np.asarray(img))
    elif mode == "RGB":
        lightness = lightness_from_srgb8(np.asarray(img))
    elif mode.startswith("I"):
        # 16-bit gray ("I;16", "I;16B", ... and "I" as Pillow opens 16-bit PNGs); full 16-bit range assumed.
        lightness = lightness_from_gray16(np.asarray(img))
    else:
        raise ImageReadError(f"unsupported image mode {mode!r}")
    return DecodedImage(lightness=lightness, alpha=alpha, format=fmt, exif=exif)


def read_image(path: str | os.PathLike) -> DecodedImage:
    """Open and fully decode ``path``; raises :class:`ImageReadError` naming the path if it is unreadable."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            decoded = decode_pil(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # Pillow signals truncated or corrupt data with OSError / SyntaxError / ValueError, by format.
        raise ImageReadError(f"{path}: cannot read as an image ({e.__class__.__name__}: {e})") from e
    return decoded


# ---------------------------------------------------------------------------------------------- writing
def save_format(fmt: str | None, path: Path) -> str:
    """The Pillow format to write for an input of format ``fmt`` at ``path``: the same, else PNG."""
    fmt = _FORMAT_ALIASES.get(fmt or "", fmt)
    if fmt is None:
        fmt = Image.registered_extensions().get(path.suffix.lower())
    Image.init()
    return fmt if fmt in Image.SAVE else "PNG"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_image(
    rgb: np.ndarray,
    path: str | os.PathLike,
    fmt: str,
    alpha: np.ndarray | None = None,
    exif: bytes | None = None,
    jpeg_quality: int = 95,
) -> Path:
    """Write sRGB uint8 ``[H,W,3]`` (plus optional alpha ``[H,W]``) to ``path`` in Pillow format ``fmt``.

    Written to a temporary file in the same folder and renamed over ``path`` only when complete. Alpha is kept
    where the format can hold it. ``jpeg_quality`` applies to JPEG and WebP.
    """
    path = Path(path)
    img = Image.fromarray(rgb, "RGB")
    if alpha is not None and fmt in _ALPHA_FORMATS:
        img.putalpha(Image.fromarray(alpha, "L"))
    options: dict = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = jpeg_quality
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        options["exif"] = exif
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            img.save(fh, format=fmt, **options)
        # mkstemp makes the file private (0600); a finished photo gets the permissions any new file would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------------------------- inputs
def _image_suffixes() -> set[str]:
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def _glob_root(pattern: str) -> Path:
    """The folder a glob searches from: its leading parts without wildcards."""
    parts = Path(pattern).parts
    first_magic = next((i for i, q in enumerate(parts) if glob.has_magic(q)), len(parts))
    return Path(*parts[:first_magic]) if first_magic else Path(".")


def find_inputs(
    patterns: list[str], exclude: Path | None = None
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files, folders (recursive) and globs into ``(path, relative output path)`` pairs.

    A named file is taken whatever its suffix (if it is not an image the user hears so); inside folders and
    globs only files with an image suffix Pillow knows are taken. Files under ``exclude`` (the output folder)
    are skipped when a search walks into it from above, so re-running over a folder never colorizes earlier
    outputs (searching the output folder itself still finds its files). Returns the pairs, in a stable order
    without duplicates, and the patterns that matched nothing.
    """
    suffixes = _image_suffixes()
    excluded = exclude.resolve() if exclude is not None else None
    seen: set[Path] = set()
    found: list[tuple[Path, Path]] = []
    unmatched: list[str] = []

    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            root, matches = p, [(f, f.relative_to(p)) for f in sorted(p.rglob("*"))]
        elif p.is_file():
            root, matches = None, [(p, Path(p.name))]
        else:
            root = _glob_root(pattern)
            matches = [(Path(f), Path(Path(f).name)) for f in sorted(glob.glob(pattern, recursive=True))]
        if root is not None:
            matches = [(f, rel) for f, rel in matches if f.is_file() and f.suffix.lower() in suffixes]
            if excluded is not None and not root.resolve().is_relative_to(excluded):
                matches = [(f, rel) for f, rel in matches if not f.resolve().is_relative_to(excluded)]
        if not matches:
            unmatched.append(pattern)
        for f, rel in matches:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append((f, rel))
    return found, unmatched
