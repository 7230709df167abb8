"""Multi-frame images -- animated GIF, PNG (APNG) and WebP, multi-page TIFF: every frame, with its timing.

:func:`colorization.io.image_files.read_image` decodes a file's first frame (the photo every consumer
expects) and says how many frames it holds; ``colorize`` reads the rest here, colours each frame as a photo of
its own and writes them back as one file of the same format, with each frame's duration and the loop count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from PIL import ImageSequence

from colorization.io.image_files import DecodedImage, decode_pil, open_image

__all__ = ["ANIMATED_FORMATS", "Frames", "read_frames"]

# Pillow formats that hold several frames and that Pillow writes back with ``save_all``.
ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP", "TIFF"})
_TIMED_FORMATS = frozenset({"GIF", "PNG", "WEBP"})  # frames with a duration and a loop count (TIFF pages: none)


@dataclass
class Frames:
    """Every frame of a file, decoded by :func:`~colorization.io.image_files.decode_pil`'s rules.

    Attributes:
        images: the frames as whole pictures (a GIF's or APNG's partial frames already composed by Pillow).
        durations: each frame's display time in milliseconds (0 where the file gives none).
        loop: how many times the animation repeats (0: forever), or None where the file does not say.
        format: Pillow's name of the file format.
    """

    images: list[DecodedImage]
    durations: list[int] = field(default_factory=list)
    loop: int | None = None
    format: str | None = None

    def save_options(self, fmt: str) -> dict[str, Any]:
        """The Pillow ``save`` options that keep this timing in format ``fmt`` (none for TIFF pages)."""
        if fmt not in _TIMED_FORMATS:
            return {}
        options: dict[str, Any] = {"duration": list(self.durations)}
        if self.loop is not None:
            options["loop"] = self.loop
        return options


def read_frames(path: str | os.PathLike) -> Frames:
    """Every frame of ``path``; raises :class:`ImageReadError` naming the path if it is unreadable."""
    with open_image(path, reading="its frames") as img:
        images, durations = [], []
        for frame in ImageSequence.Iterator(img):
            frame.load()
            durations.append(int(frame.info.get("duration", 0) or 0))
            images.append(decode_pil(frame))  # its samples are copies: the next seek leaves them alone
        loop = img.info.get("loop")
        return Frames(images, durations, None if loop is None else int(loop), img.format)
