"""The ``colorize --serve`` page (Gradio): drop a photo, see each checkpoint's colours side by side, download each.

The upload reaches :func:`colorize_upload` as the file the browser sent (a ``gr.File`` with ``type="filepath"``:
Gradio stores it and never decodes it), so the project's own reader checks it first (:func:`check_upload`: an empty
file, a file that is not an image, a picture above the page's pixel limit are refused with one line naming the
upload, never a server path, before anything is decoded) and then decodes it --
:func:`colorization.io.image_files.read_image`: EXIF orientation, alpha, 16-bit samples -- and the colours are
:meth:`colorization.inference.colorizer.Colorizer.colorize_decoded`'s, exactly as for the ``colorize`` command.
Each result is written as a full-resolution PNG (same size as the upload, its alpha kept); the page shows it and
offers it for download. A refused upload is one line on the page and one warning line in the server's log.

Offline by construction: system fonts only (no web-font files), no share link, no analytics, no run history.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from colorization.io.image_files import ImageReadError, open_image, read_image, write_image
from colorization.serve.models import ServedCheckpoint

log = logging.getLogger(__name__)

PAGE_TITLE = "colorize: try checkpoints on your photo"
# Gradio keeps uploads and results in its cache; every 10 min, files older than an hour go.
CACHE_CLEANUP = (600, 3600)
# The system's own fonts: nothing is fetched for the page to render offline.
SANS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO = ["ui-monospace", "monospace"]
# A result column's narrowest width (CSS px): below it the row wraps, so a big sweep stays readable.
COLUMN_MIN_WIDTH = 320


def file_slug(text: str) -> str:
    """A file-name-safe version of ``text``: runs of anything but letters, digits and ``-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", text).strip("_") or "image"


class UploadRefused(ValueError):
    """An upload the page does not colour; the message is one line naming the upload by its own file name."""


def check_upload(photo: str | Path, max_pixels: int) -> tuple[int, int]:
    """``(width, height)`` of the upload at ``photo``, read from its header only; raises :class:`UploadRefused`
    for an empty file, a file that is not an image, or a picture of more than ``max_pixels`` pixels (a
    decompression bomb among them), before anything is decoded, so memory stays bounded by the limit."""
    photo = Path(photo)
    name = photo.name  # Gradio keeps the browser's file name; the folder is the server's business
    if photo.stat().st_size == 0:
        raise UploadRefused(f"{name}: the file is empty; drop a photo (PNG, JPEG, WebP, TIFF, ...)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below decides
            with open_image(photo) as img:
                width, height = img.size
    except ImageReadError as e:
        if isinstance(e.__cause__, Image.DecompressionBombError):  # past Pillow's own ceiling
            raise UploadRefused(f"{name}: more pixels than this page's limit of {max_pixels:,} (a decompression "
                                "bomb?); scale it down") from e
        raise UploadRefused(f"{name}: not an image this page can read; drop a photo (PNG, JPEG, WebP, TIFF, ...)") \
            from e
    if width * height > max_pixels:
        raise UploadRefused(f"{name}: {width} × {height} px is more than this page's limit of {max_pixels:,} "
                            "pixels; scale it down, or start the page with a higher --max-pixels")
    return width, height


def colorize_upload(photo: str | Path, models: Sequence[ServedCheckpoint], out_dir: Path,
                    max_pixels: int | None = None) -> tuple[tuple[int, int], list[Path]]:
    """Colour the photo file at ``photo`` with every model -> ``((width, height), one PNG per model)``.

    The PNGs (sRGB 8-bit, the upload's size, its alpha and EXIF kept) are written into a fresh folder under
    ``out_dir``, named ``<photo stem>_<model label>.png``. With ``max_pixels`` the upload is checked first
    (:func:`check_upload`, raises :class:`UploadRefused`); a file that still cannot be decoded raises
    :class:`UploadRefused` too.
    """
    if max_pixels is not None:
        check_upload(photo, max_pixels)
    try:
        image = read_image(photo)
    except ImageReadError as e:  # its message names the server's path: say it with the upload's name
        raise UploadRefused(f"{Path(photo).name}: the picture is damaged or truncated and cannot be decoded") from e
    request_dir = Path(tempfile.mkdtemp(prefix="request-", dir=out_dir))  # concurrent visitors never collide
    stem = file_slug(Path(photo).stem)
    written = []
    for model in models:
        assert model.colorizer is not None, f"{model.label}: not loaded"
        rgb = model.colorizer.colorize_decoded([image])[0]
        dst = request_dir / f"{stem}_{file_slug(model.label)}.png"
        written.append(write_image(rgb, dst, "PNG", image.alpha, image.exif))
    height, width = image.samples.shape[:2]
    return (width, height), written


def build_page(models: Sequence[ServedCheckpoint], out_dir: Path, max_pixels: int) -> Any:
    """The Gradio ``Blocks`` app: an upload box, a status line, and per model a result image and a download;
    uploads over ``max_pixels`` pixels are refused.

    Element ids a test or a script can use: ``#photo`` (the upload), ``#status``, ``#result-N`` and
    ``#download-N`` for the N-th model (0-based, in ``models`` order).
    """
    import gradio as gr

    def run(photo: str | None) -> list[Any]:
        if not photo:
            empty = [gr.DownloadButton(value=None, interactive=False) for _ in models]
            return ["", *[None for _ in models], *empty]
        start = time.perf_counter()
        try:
            (width, height), pngs = colorize_upload(photo, models, out_dir, max_pixels)
        except UploadRefused as e:
            log.warning("upload refused: %s", e)
            raise gr.Error(str(e), title="Not coloured", print_exception=False) from None
        status = (f"{width} × {height} px, colorized by {len(models)} checkpoint(s) in "
                  f"{time.perf_counter() - start:.1f} s")
        buttons = [gr.DownloadButton(value=str(p), label=f"Download PNG ({width} × {height})", interactive=True)
                   for p in pngs]
        return [status, *[str(p) for p in pngs], *buttons]

    with gr.Blocks(title=PAGE_TITLE, analytics_enabled=False, delete_cache=CACHE_CLEANUP) as page:
        gr.Markdown(f"## colorize\nDrop a photo (up to {max_pixels / 1e6:g} megapixels; colour photos are recoloured "
                    "from their lightness). Each checkpoint colours it at full resolution; download the PNG under "
                    "each result.")
        # A file, not gr.Image: Gradio would decode the upload before the handler could check it.
        photo = gr.File(type="filepath", file_count="single", label="Your photo", elem_id="photo", height=140)
        status = gr.Markdown(elem_id="status")
        images, downloads = [], []
        with gr.Row(equal_height=False):
            for i, model in enumerate(models):
                with gr.Column(min_width=COLUMN_MIN_WIDTH):
                    images.append(gr.Image(type="filepath", format="png", label=model.label, interactive=False,
                                           buttons=["download", "fullscreen"], elem_id=f"result-{i}",
                                           elem_classes=["result"]))
                    downloads.append(gr.DownloadButton("Download PNG", value=None, interactive=False,
                                                       elem_id=f"download-{i}"))
        photo.change(run, inputs=photo, outputs=[status, *images, *downloads], api_name="colorize")
    return page


def local_theme() -> Any:
    """Gradio's default look with the system's fonts instead of web fonts."""
    import gradio as gr

    return gr.themes.Default(font=SANS, font_mono=MONO)
