"""Pixels in and out of ``colorize``: any image file -> full-resolution lightness, colour -> file.

Reading: every Pillow mode a user's photo may come in (8/16-bit gray, gray+alpha, RGB, RGBA, palette, CMYK,
...) becomes the CIE lightness ``L*`` ``[1,H,W]`` float32 in [0,100], computed in float from the decoded
samples (sRGB, D65, the same coefficients as OpenCV), plus the alpha channel when there is one. EXIF
orientation is applied first, so the output is upright.

Writing: ``L*`` and a predicted ``a*b*`` ``[2,H,W]`` become sRGB. Colours outside the sRGB gamut are pulled
towards the gray of the same luminance ``Y`` in linear RGB (``Y`` is a weighted mean of R, G, B with weights
summing to one, so the mix keeps ``Y`` and hence ``L*`` exactly) instead of being clipped per channel, which
would change the lightness. Files are written under a temporary name in the target folder, then renamed, so a
crash never leaves a half-written image.

The transfer curve is applied by lookup tables (uint8 in, uint8 out), which keeps a 12-megapixel photo at a
few tens of milliseconds per step on two cores; everything else is float32 torch on the whole image.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DecodedImage",
    "ImageReadError",
    "decode_pil",
    "find_inputs",
    "compose_srgb8",
    "lab_to_srgb",
    "lightness_from_gray16",
    "lightness_from_srgb8",
    "lightness_from_srgb_float",
    "read_image",
    "save_format",
    "upsample_rows",
    "write_image",
]

# sRGB -> Y row of the sRGB->XYZ matrix (OpenCV's and kornia's); the three sum to 1, so gray stays Y = value.
_Y_WEIGHTS = (0.212671, 0.715160, 0.072169)
_D65_WHITE = (0.950456, 1.0, 1.088754)
_XYZ_TO_LINEAR_RGB = (
    (3.240479, -1.53715, -0.498535),
    (-0.969256, 1.875991, 0.041556),
    (0.055648, -0.204043, 1.057311),
)
_EPS = 6.0 / 29.0  # the CIE f(t) breakpoint in f-space
_LINEAR_LUT_BITS = 16  # linear [0,1] -> sRGB8 table size 2**16: worst error 0.03 of an 8-bit level
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


# ---------------------------------------------------------------------------------------------- chunks
@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _for_each_chunk(work: Callable[[int], None], height: int, rows: int, workers: int | None) -> None:
    """Call ``work(first_row)`` for every ``rows``-row chunk of ``height`` rows, on ``workers`` threads.

    Chunks run in parallel with torch's intra-op threads set to one, instead of one chunk at a time with
    intra-op threads: on a CPU shared with other processes, the intra-op barrier after every small op waits
    for a descheduled thread, which made the same work 4-10x slower in measurements; independent chunks do not
    wait for each other. ``workers`` None means torch's thread count.
    """
    starts = range(0, height, max(1, rows))
    workers = torch.get_num_threads() if workers is None else workers
    if workers <= 1 or len(starts) <= 1:
        with _torch_threads(1):
            for r in starts:
                work(r)
        return
    # Inference and grad modes are thread-local: carry the caller's into the workers.
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def run(r: int) -> None:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            work(r)

    with _torch_threads(1), ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(run, starts):  # re-raises a worker's exception
            pass


# ---------------------------------------------------------------------------------------------- lightness
# The CIE f(t) and its inverse are written branch-free with clamps (f(t) = cbrt(max(t, e^3)) +
# (min(t, e^3) - e^3) / (3e^2), equal to the textbook two-branch form): torch.where on big CPU tensors costs
# about 30x a clamp, and these run on every pixel of a 12-megapixel photo.
def _srgb_decode(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0,1] -> linear [0,1] (float64, for building tables)."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _lightness_of_y_(y: torch.Tensor) -> torch.Tensor:
    """Relative luminance Y in [0,1] -> L* in [0,100], in place."""
    linear = y.clamp(max=_EPS**3).sub_(_EPS**3).mul_(1.0 / (3.0 * _EPS**2))
    return y.clamp_(min=_EPS**3).pow_(1.0 / 3.0).add_(linear).mul_(116.0).sub_(16.0)


def _f_inverse_(f: torch.Tensor) -> torch.Tensor:
    """CIE f^-1 in place: f -> t (f^3 above 6/29, linear below)."""
    linear = f.clamp(max=_EPS).sub_(_EPS).mul_(3.0 * _EPS**2)
    return f.clamp_(min=_EPS).pow_(3).add_(linear)


@functools.lru_cache(maxsize=4)
def _srgb_to_y_tables(levels: int) -> tuple[np.ndarray, np.ndarray]:
    """For integer samples 0..levels-1: (linear value, L* of the gray of that value), both float32."""
    linear = _srgb_decode(np.arange(levels, dtype=np.float64) / (levels - 1))
    lightness = _lightness_of_y_(torch.from_numpy(linear.copy())).numpy()
    return linear.astype(np.float32), lightness.astype(np.float32)


def lightness_from_srgb8(
    pixels: np.ndarray, chunk_rows: int = 64, workers: int | None = None
) -> torch.Tensor:
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
    tables = [linear * np.float32(w) for w in _Y_WEIGHTS]
    out = np.empty(pixels.shape[:2], np.float32)

    def work(r: int) -> None:
        rows = pixels[r : r + chunk_rows]
        y = np.take(tables[0], rows[..., 0])
        y += np.take(tables[1], rows[..., 1])
        y += np.take(tables[2], rows[..., 2])
        out[r : r + chunk_rows] = _lightness_of_y_(torch.from_numpy(y)).numpy()

    _for_each_chunk(work, pixels.shape[0], chunk_rows, workers)
    return torch.from_numpy(out)[None]


def lightness_from_gray16(pixels: np.ndarray) -> torch.Tensor:
    """16-bit gray ``[H,W]`` (0..65535, sRGB-encoded) -> ``L*`` ``[1,H,W]`` float32, from all 16 bits."""
    _, gray_l = _srgb_to_y_tables(65536)
    idx = np.clip(pixels, 0, 65535).astype(np.int32, copy=False)
    return torch.from_numpy(np.take(gray_l, idx))[None]


def lightness_from_srgb_float(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB float ``[...,C,H,W]`` in [0,1], C = 1 (gray) or 3 -> ``L*`` ``[...,1,H,W]`` float32."""
    x = rgb.float().clamp(0.0, 1.0)
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    if x.shape[-3] == 3:
        w = torch.tensor(_Y_WEIGHTS, dtype=linear.dtype, device=linear.device).view(3, 1, 1)
        y = (linear * w).sum(dim=-3, keepdim=True)
    elif x.shape[-3] == 1:
        y = linear
    else:
        raise ValueError(f"expected 1 or 3 channels, got shape {tuple(rgb.shape)}")
    return _lightness_of_y_(y)


# ---------------------------------------------------------------------------------------------- colour out
@functools.lru_cache(maxsize=4)
def _linear_to_srgb8_table(device: torch.device) -> torch.Tensor:
    n = 1 << _LINEAR_LUT_BITS
    x = np.arange(n, dtype=np.float64) / (n - 1)
    srgb = np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)
    return torch.from_numpy(np.round(srgb * 255.0).astype(np.uint8)).to(device)


def _linear_rgb_in_gamut(lightness: torch.Tensor, ab: torch.Tensor) -> list[torch.Tensor]:
    """``L*`` ``[...,1,H,W]``, ``a*b*`` ``[...,2,H,W]`` -> linear R, G, B ``[...,1,H,W]`` each in [0,1].

    Out-of-gamut colours move along the line to the gray of equal luminance Y until they fit, so Y is kept.
    """
    fy = lightness.float().add(16.0).div_(116.0)
    x = _f_inverse_(torch.add(fy, ab[..., 0:1, :, :].float(), alpha=1.0 / 500.0))
    z = _f_inverse_(torch.add(fy, ab[..., 1:2, :, :].float(), alpha=-1.0 / 200.0))
    y = _f_inverse_(fy)
    # d = linear RGB - Y, with the reference white folded into the matrix.
    d = []
    for row in _XYZ_TO_LINEAR_RGB:
        c = torch.mul(x, row[0] * _D65_WHITE[0])
        c.add_(y, alpha=row[1] - 1.0).add_(z, alpha=row[2] * _D65_WHITE[2])
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
    """``L*`` ``[...,1,H,W]`` in [0,100] and ``a*b*`` ``[...,2,H,W]`` -> sRGB ``[...,3,H,W]``.

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
        channels = [
            torch.where(c <= 0.0031308, c * 12.92, 1.055 * c.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)
            .clamp_(0.0, 1.0)
            .to(dtype)
            for c in channels
        ]
    if channels_last:
        return torch.stack([c.squeeze(-3) for c in channels], dim=-1)
    return torch.cat(channels, dim=-3)


def upsample_rows(ab_small: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, ...]:
    """Separable bilinear upsampling of ``[C,h,w]`` to ``[C,height,width]``, prepared for row chunks.

    Returns ``(wide [C,h,width], i0 [height], i1 [height], w1 [height,1])``: output row ``r`` is
    ``lerp(wide[:, i0[r]], wide[:, i1[r]], w1[r])``, identical to ``F.interpolate(..., 'bilinear',
    align_corners=False)`` up to float rounding, but it never holds the whole upsampled image.
    """
    h = ab_small.shape[-2]
    wide = torch.nn.functional.interpolate(
        ab_small[None].float(), size=(h, width), mode="bilinear", align_corners=False
    )[0]
    src = ((torch.arange(height, device=ab_small.device, dtype=torch.float32) + 0.5) * (h / height) - 0.5)
    src = src.clamp_(min=0.0)
    i0 = src.floor().long().clamp_(max=h - 1)
    i1 = (i0 + 1).clamp_(max=h - 1)
    return wide, i0, i1, (src - i0).clamp_(0.0, 1.0)[:, None]


def compose_srgb8(
    lightness: torch.Tensor, ab_small: torch.Tensor, chunk_rows: int = 64, workers: int | None = None
) -> torch.Tensor:
    """Full-resolution ``L*`` ``[1,H,W]`` + small ``a*b*`` ``[2,h,w]`` -> sRGB uint8 ``[H,W,3]``.

    The ab is upsampled bilinearly to ``H x W`` and joined with the untouched ``L*``. On the CPU the work runs
    ``chunk_rows`` rows at a time on ``workers`` threads (see :func:`_for_each_chunk`); elsewhere in one go.
    """
    height, width = lightness.shape[-2:]
    wide, i0, i1, w1 = upsample_rows(ab_small, height, width)
    out = torch.empty((height, width, 3), dtype=torch.uint8, device=lightness.device)

    def work(r: int) -> None:
        rows = slice(r, r + step)
        ab = torch.lerp(wide.index_select(1, i0[rows]), wide.index_select(1, i1[rows]), w1[rows])
        out[rows] = lab_to_srgb(lightness[:, rows], ab, channels_last=True)

    if lightness.device.type == "cpu":
        step = max(1, chunk_rows)
        _for_each_chunk(work, height, step, workers)
    else:
        step = height
        work(0)
    return out


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
