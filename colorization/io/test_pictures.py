"""Test pictures on disk, for ``report.html``: a job writes gray | prediction | truth PNGs of a few test images when
it tests (:class:`colorization.training.callbacks.TestImagesCallback`), the report links them.

Layout of a run dir (the same for a sweep's job dir)::

    test_images/index.csv                 image,stem        (one row per picture set, test order)
    test_images/<stem>_gray.png           uint8 sRGB, the test image's size
    test_images/<stem>_prediction.png
    test_images/<stem>_truth.png

``<stem>`` is :func:`picture_stem` of the image id: ids carry ``/`` and ``:`` (``sample:<set>/<photo>/<crop>``), so
the file name is a readable slug plus a short hash that keeps two ids apart.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from colorization.io.atomic import atomic_write

PICTURES_DIR = "test_images"
INDEX_FILE = "index.csv"
PANELS = ("gray", "prediction", "truth")
SLUG_CHARS = 48  # the readable part of a file name; the hash makes it unique


def picture_stem(image_id: str) -> str:
    """``sample:val2017/000123/2`` -> ``sample_val2017_000123_2-<8 hex>``: a file name for an image id."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", image_id).strip("_")[:SLUG_CHARS] or "image"
    return f"{slug}-{hashlib.sha1(image_id.encode()).hexdigest()[:8]}"


def spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (first and last included), ascending, without repeats; all of
    them when ``k >= n``, none when ``k < 1``."""
    if n < 1 or k < 1:
        return []
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int)).tolist()


def write_test_pictures(out_dir: Path, ids: Sequence[str], panels: Mapping[str, np.ndarray]) -> Path:
    """PNGs ``<stem>_<panel>.png`` of ``panels[panel]`` (uint8 ``[N, H, W, 3]`` for each of :data:`PANELS`, row
    ``i`` is image ``ids[i]``) and ``index.csv`` in ``out_dir``; returns the index. The index is written last
    (atomically), so a reader that finds it finds every picture it names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, image_id in enumerate(ids):
        stem = picture_stem(image_id)
        for name in PANELS:
            Image.fromarray(np.ascontiguousarray(panels[name][i])).save(out_dir / f"{stem}_{name}.png")
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image", "stem"])
    writer.writerows([image_id, picture_stem(image_id)] for image_id in ids)
    return atomic_write(out_dir / INDEX_FILE, text.getvalue())


def read_pictures(run_dir: Path, relative_to: Path) -> dict[str, dict[str, str]]:
    """``image id -> {panel: path}`` of the pictures ``run_dir`` holds (index order; a panel whose file is missing
    is left out), each path relative to ``relative_to`` with ``/`` separators (as a page links it); ``{}`` when
    the run wrote none (it failed, or it ran before pictures were written)."""
    index = run_dir / PICTURES_DIR / INDEX_FILE
    if not index.is_file():
        return {}
    with index.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("image") and r.get("stem")]
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        files = {name: run_dir / PICTURES_DIR / f"{r['stem']}_{name}.png" for name in PANELS}
        found = {name: path.relative_to(relative_to).as_posix() for name, path in files.items() if path.is_file()}
        if found:
            out[r["image"]] = found
    return out
