"""The ``colorize --serve`` page (Gradio): drop a photo, see each checkpoint's colours side by side, download each.

The upload reaches :func:`colorize_upload` as the file the browser sent (Gradio's ``type="filepath"`` with no
``image_mode`` hands the original file over untouched), so decoding -- EXIF orientation, alpha, 16-bit samples --
is :func:`colorization.io.image_files.read_image`'s and the colours are
:meth:`colorization.inference.colorizer.Colorizer.colorize_decoded`'s, exactly as for the ``colorize`` command.
Each result is written as a full-resolution PNG (same size as the upload, its alpha kept); the page shows it and
offers it for download.

Offline by construction: system fonts only (no web-font files), no share link, no analytics, no run history.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from colorization.io.image_files import ImageReadError, read_image, write_image
from colorization.serve.models import ServedCheckpoint

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


def colorize_upload(photo: str | Path, models: Sequence[ServedCheckpoint], out_dir: Path) -> tuple[
        tuple[int, int], list[Path]]:
    """Colour the photo file at ``photo`` with every model -> ``((width, height), one PNG per model)``.

    The PNGs (sRGB 8-bit, the upload's size, its alpha and EXIF kept) are written into a fresh folder under
    ``out_dir``, named ``<photo stem>_<model label>.png``. Raises
    :class:`~colorization.io.image_files.ImageReadError` for a file that is not a readable image.
    """
    image = read_image(photo)
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


def build_page(models: Sequence[ServedCheckpoint], out_dir: Path) -> Any:
    """The Gradio ``Blocks`` app: an upload box, a status line, and per model a result image and a download.

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
            (width, height), pngs = colorize_upload(photo, models, out_dir)
        except ImageReadError as e:
            raise gr.Error(str(e)) from e
        status = (f"{width} × {height} px, colorized by {len(models)} checkpoint(s) in "
                  f"{time.perf_counter() - start:.1f} s")
        buttons = [gr.DownloadButton(value=str(p), label=f"Download PNG ({width} × {height})", interactive=True)
                   for p in pngs]
        return [status, *[str(p) for p in pngs], *buttons]

    with gr.Blocks(title=PAGE_TITLE, analytics_enabled=False, delete_cache=CACHE_CLEANUP) as page:
        gr.Markdown("## colorize\nDrop a photo (any size; colour photos are recoloured from their lightness). "
                    "Each checkpoint colours it at full resolution; download the PNG under each result.")
        photo = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Your photo",
                         elem_id="photo", height=360)
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
