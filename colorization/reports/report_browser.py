"""The image-by-image browser of ``report.html``: per test image a row gray | each job's prediction | truth, each
job's own PSNR / SSIM of that image under its picture, a selector of the jobs shown and previous / next buttons
(the page's script; without it every row shows).

The pictures are files each job wrote when it tested (:mod:`colorization.io.test_pictures`), linked relative to
the page; the numbers are the job's ``test_images.csv``. Stable names: ``section#images``, one
``div.image-row[data-image=<id>]`` per image, ``figure.gray``, ``figure.prediction[data-job=<job>]`` (class
``missing`` when that job has no picture of the image), ``figure.truth``, checkboxes ``input.job-toggle``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from colorization.io.test_pictures import read_pictures
from colorization.reports.metric_names import METRICS
from colorization.reports.sweep_table import read_image_metrics

log = logging.getLogger(__name__)

MAX_SHOWN_JOBS = 8  # with more jobs, the selector starts with the first ones ticked (the page stays readable)
CAPTION_METRICS = (("psnr", 2), ("ssim", 3))  # under a picture: fewer decimals than the tables, room is short
NO_PICTURES = ("no job left test pictures (jobs write them at test time into test_images/ when "
               "callbacks.test_images_table.num_files > 0; older runs have none)")


@dataclass
class Column:
    """One job in the browser: ``pictures`` image id -> {panel: path relative to the page}; ``metrics`` image id ->
    {metric: value} (its ``test_images.csv`` row)."""

    job: str
    label: str
    pictures: dict[str, dict[str, str]] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """One picture of an image row: ``css`` (``gray``, ``prediction``, ``prediction missing``, ``truth``), the
    ``job`` of a prediction, ``src`` relative to the page (``None``: no picture), its caption and numbers."""

    css: str
    job: str | None
    src: str | None
    alt: str
    caption: str
    numbers: str = ""


@dataclass(frozen=True)
class ImageRow:
    image_id: str
    figures: list[Figure]


@dataclass(frozen=True)
class Toggle:
    job: str
    label: str
    checked: bool


@dataclass(frozen=True)
class Browser:
    """``section#images``: ``rows`` one per test image (empty: ``empty`` says why), ``toggles`` one per job,
    ``skipped`` sentences naming the jobs left out."""

    rows: list[ImageRow]
    toggles: list[Toggle]
    skipped: list[str]
    intro: str = ""
    empty: str = NO_PICTURES


def read_metrics(test_images_csv: str | Path | None) -> dict[str, dict[str, float]]:
    """image id -> {metric: value} of a ``test_images.csv``; ``{}`` without one or when it is unreadable."""
    if not test_images_csv or not Path(test_images_csv).is_file():
        return {}
    try:
        table = read_image_metrics(test_images_csv)
    except (OSError, ValueError, IndexError) as e:
        log.warning("%s unreadable (%s): no per-image numbers under its pictures", test_images_csv, e)
        return {}
    return {image_id: {k: float(v[i]) for k, v in table.values.items()} for i, image_id in enumerate(table.ids)}


def column(job: str, label: str, run_dir: Path, page_dir: Path, test_images_csv: str | Path | None) -> Column:
    """The browser column of the run in ``run_dir`` (a job dir of the sweep, or a single run's dir)."""
    return Column(job, label, read_pictures(run_dir, page_dir), read_metrics(test_images_csv))


def image_ids(columns: Sequence[Column]) -> list[str]:
    """Every image id some column has a picture of: the first such column's order, then the others' new ones."""
    seen: dict[str, None] = {}
    for c in columns:
        seen.update(dict.fromkeys(c.pictures))
    return list(seen)


def _numbers(values: dict[str, float] | None, suffix: str = "") -> str:
    if not values:
        return ""
    return " · ".join(f"{METRICS[k].label} {values[k + suffix]:.{d}f}" for k, d in CAPTION_METRICS
                      if k + suffix in values)


def _row(image_id: str, columns: Sequence[Column]) -> ImageRow:
    """One image: gray and truth from the first column that has them, then one figure per column."""
    owner = next(c for c in columns if image_id in c.pictures)
    refs = owner.pictures[image_id]
    figures = [Figure("gray", None, refs.get("gray"), f"{image_id}: gray", "gray (a = b = 0)",
                      _numbers(owner.metrics.get(image_id), "_gray"))]
    for c in columns:
        src = c.pictures.get(image_id, {}).get("prediction")
        if not c.pictures:
            note = f"{c.label} (no pictures for this job)"
        else:
            note = c.label if src else f"{c.label} (no picture of this image)"
        figures.append(Figure("prediction" if src else "prediction missing", c.job, src, f"{image_id}: job {c.job}",
                              note, _numbers(c.metrics.get(image_id))))
    figures.append(Figure("truth", None, refs.get("truth"), f"{image_id}: truth", "truth"))
    return ImageRow(image_id, figures)


def browser(columns: Sequence[Column], skipped: Sequence[str] = ()) -> Browser:
    """The browser of ``columns`` (one per job with pictures); ``skipped``: sentences naming the jobs left out
    (not ok: no pictures)."""
    ids = image_ids(columns)
    toggles = [Toggle(c.job, c.label, i < MAX_SHOWN_JOBS) for i, c in enumerate(columns)]
    if len(columns) == 1:  # a single run's page
        intro = f"{len(ids)} test images; under the prediction its PSNR and SSIM of the image."
    else:
        intro = (f"{len(ids)} test images, the same ids for every job; under each prediction that job's own PSNR "
                 "and SSIM of the image.")
    return Browser([_row(image_id, columns) for image_id in ids], toggles, list(skipped), intro)
