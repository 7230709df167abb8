"""Any folder tree of photos as uint8 LAB images: decode, orient, resize, crop, convert.

Files are scanned once at construction: unreadable files are reported with their path and left out, and
grayscale-only photos (no colour to learn) are left out with a count in the log. A file that still fails to
decode later is logged and replaced by another image, so a bad file never kills an epoch.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from colorization.color import rgb_to_lab8
from colorization.data.kaggle import DatasetError
from colorization.io.image_files import IMAGE_SUFFIXES, decode_pil, image_files_under, read_image

log = logging.getLogger(__name__)

WHITE = 255  # the background transparent photos are composited over
PREVIEW_SIDE = 128  # the grayscale check looks at a preview this small (enough to see colour, fast)


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode one image file as sRGB uint8 ``[H, W, 3]`` in [0,255], upright, by the decoding rules of
    :mod:`colorization.io.image_files` (16-bit samples rounded to 8 bits, palette/CMYK as RGB).

    Alpha: the photo as a viewer sees it on a white page (composited over white), so transparent areas never
    teach whatever colour happens to be stored under them. Raises ``ImageReadError`` naming the path.
    """
    return read_image(path).rgb8(background=WHITE)


def is_grayscale(rgb: np.ndarray, tolerance: int = 2) -> bool:
    """True when every pixel of RGB ``[H, W, 3]`` has channels within ``tolerance`` of each other."""
    x = rgb.astype(np.int16)
    return bool(np.abs(x[..., 0] - x[..., 1]).max() <= tolerance and np.abs(x[..., 1] - x[..., 2]).max() <= tolerance)


@dataclass
class ScanResult:
    """What :func:`scan_images` found: usable colour files, grayscale ones and unreadable ones."""

    files: list[Path] = field(default_factory=list)
    grayscale: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)


def scan_images(root: str | Path, gray_tolerance: int = 2, check_colour: bool = True) -> ScanResult:
    """Find image files under ``root``, verify them and sort out the grayscale ones.

    The files are :func:`~colorization.io.image_files.image_files_under` ``root`` (the suffix list and
    walk ``colorize DIR`` uses). A file counts as grayscale when it stores one channel or, with
    ``check_colour``, when a small decoded preview (composited over white, as :func:`load_rgb`) has equal
    channels within ``gray_tolerance``, as many "colour" JPEGs are gray in RGB clothing.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data.root={root}: no such folder; pass a folder of colour photos (searched recursively)")
    result = ScanResult()
    for path in image_files_under(root):
        try:
            with Image.open(path) as img:
                img.verify()
            with Image.open(path) as img:
                img.draft("RGB", (PREVIEW_SIDE, PREVIEW_SIDE))  # JPEG: decode at reduced size, much faster
                preview = img.copy()
                preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
                decoded = decode_pil(preview)
                gray = decoded.is_gray or (
                    check_colour and is_grayscale(decoded.rgb8(background=WHITE), gray_tolerance))
        except Exception as err:  # PIL raises many types for broken files; any of them means "skip it"
            log.warning("skipping unreadable image %s: %s", path, err)
            result.unreadable.append(path)
            continue
        (result.grayscale if gray else result.files).append(path)
    if result.grayscale:
        log.info("skipped %d grayscale image(s) under %s (no colour to learn)", len(result.grayscale), root)
    if result.unreadable:
        log.warning("skipped %d unreadable image(s) under %s", len(result.unreadable), root)
    return result


def resize_crop(rgb: np.ndarray, size: int, rng: random.Random | None = None) -> np.ndarray:
    """Resize RGB ``[H, W, 3]`` so the shorter side is ``size``, then crop ``[size, size, 3]``.

    The crop is centred, or uniformly random when ``rng`` is given.
    """
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    img = Image.fromarray(rgb)
    if (nh, nw) != (h, w):
        img = img.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    y = rng.randint(0, nh - size) if rng else (nh - size) // 2
    x = rng.randint(0, nw - size) if rng else (nw - size) // 2
    return np.array(img.crop((x, y, x + size, y + size)))  # writable copy (torch.from_numpy needs one)


class ImageFolderLab(Dataset):
    """A folder of photos as uint8 LAB ``[3, size, size]`` (OpenCV 8-bit encoding), like the Kaggle reader.

    Args:
        root: folder searched recursively for image files (``colorize``'s suffixes and walk).
        size: output side in pixels (shorter side resized to it, then cropped).
        random_crop: random instead of centre crop (training); centre crops keep val/test deterministic.
        files: use these files instead of scanning ``root`` (the datamodule scans once, then splits).
        gray_tolerance: channels this close count as gray when scanning.
    """

    def __init__(
        self,
        root: str | Path,
        size: int,
        random_crop: bool = False,
        files: Sequence[str | Path] | None = None,
        gray_tolerance: int = 2,
    ) -> None:
        self.root = Path(root)
        self.size = int(size)
        self.random_crop = random_crop
        if files is None:
            scan = scan_images(self.root, gray_tolerance=gray_tolerance)
            self.files, self.skipped_gray, self.unreadable = scan.files, scan.grayscale, scan.unreadable
        else:
            self.files, self.skipped_gray, self.unreadable = [Path(f) for f in files], [], []
        if not self.files:
            raise DatasetError(f"data.root={self.root}: no usable colour images in it (suffixes: "
                               f"{', '.join(IMAGE_SUFFIXES)}); pass a folder of colour photos")
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.files)

    def image_id(self, i: int) -> str:
        """The id of item ``i``: ``folder:`` + its file's path relative to ``root`` (POSIX separators), the same
        in every split and run over this folder. (A file that fails to decode later is replaced by another
        image in ``__getitem__``; its id still names the file that was asked for, as the run logged.)"""
        path = self.files[i]
        try:
            rel = path.relative_to(self.root)
        except ValueError:  # a file given from elsewhere: its full path is the only stable name
            rel = path
        return f"folder:{rel.as_posix()}"

    def load(self, i: int) -> torch.Tensor:
        """Image ``i`` as uint8 LAB ``[3, size, size]``; raises if the file cannot be decoded."""
        # Drawn from the global generator, which Lightning's seed_everything(workers=True) seeds per worker.
        rng = random.Random(random.getrandbits(64)) if self.random_crop else None
        rgb = resize_crop(load_rgb(self.files[i]), self.size, rng)
        return rgb_to_lab8(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))

    def __getitem__(self, i: int) -> torch.Tensor:
        """uint8 LAB ``[3, size, size]``; a file that fails to decode is logged and another image returned."""
        for step in range(len(self.files)):
            j = (i + step) % len(self.files)
            if j in self._bad:
                continue
            try:
                return self.load(j)
            except Exception as err:  # a corrupt file must not end the epoch
                log.warning("skipping unreadable image %s: %s", self.files[j], err)
                self._bad.add(j)
        raise RuntimeError(f"none of the {len(self.files)} images under {self.root} can be decoded")
