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
from html import escape
from pathlib import Path

from colorization.io.test_pictures import read_pictures
from colorization.reports.report_tables import attrs
from colorization.reports.sweep_table import read_image_metrics

log = logging.getLogger(__name__)

MAX_SHOWN_JOBS = 8  # with more jobs, the selector starts with the first ones ticked (the page stays readable)
CAPTION_METRICS = (("psnr", "PSNR", 2), ("ssim", "SSIM", 3))


@dataclass
class Column:
    """One job in the browser: ``pictures`` image id -> {panel: path relative to the page}; ``metrics`` image id ->
    {metric: value} (its ``test_images.csv`` row)."""

    job: str
    label: str
    pictures: dict[str, dict[str, str]] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


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


def _caption(title: str, values: dict[str, float] | None, suffix: str = "") -> str:
    numbers = ""
    if values:
        numbers = " · ".join(f"{name} {values[k + suffix]:.{d}f}" for k, name, d in CAPTION_METRICS
                             if k + suffix in values)
    return f"<figcaption>{escape(title)}<br><span class=\"numbers\">{escape(numbers)}</span></figcaption>"


def _picture(src: str | None, alt: str) -> str:
    if src is None:
        return '<div class="no-picture">no picture</div>'
    return f'<img{attrs(src=src, alt=alt, loading="lazy")}>'


def _row(k: int, image_id: str, columns: Sequence[Column]) -> str:
    """One image: gray and truth from the first column that has them, then one figure per column."""
    owner = next(c for c in columns if image_id in c.pictures)
    refs = owner.pictures[image_id]
    figures = [f'<figure class="gray">{_picture(refs.get("gray"), f"{image_id}: gray")}'
               f'{_caption("gray (a = b = 0)", owner.metrics.get(image_id), "_gray")}</figure>']
    for c in columns:
        src = c.pictures.get(image_id, {}).get("prediction")
        css = "prediction" if src else "prediction missing"
        if not c.pictures:
            note = f"{c.label} (no pictures for this job)"
        else:
            note = c.label if src else f"{c.label} (no picture of this image)"
        figures.append(f'<figure{attrs(class_=css, data_job=c.job)}>{_picture(src, f"{image_id}: job {c.job}")}'
                       f"{_caption(note, c.metrics.get(image_id))}</figure>")
    figures.append(f'<figure class="truth">{_picture(refs.get("truth"), f"{image_id}: truth")}'
                   f'{_caption("truth", None)}</figure>')
    return (f'<div{attrs(class_="image-row", id=f"image-{k}", data_image=image_id)}>'
            f'<h3>{k + 1}. {escape(image_id)}</h3><div class="strip">{"".join(figures)}</div></div>\n')


def browser_section(columns: Sequence[Column], skipped: Sequence[str] = ()) -> str:
    """``section#images``; ``skipped``: sentences naming the jobs left out (not ok: no pictures)."""
    notes = "".join(f"<li>{escape(s)}</li>" for s in skipped)
    notes = f'<ul class="skipped">{notes}</ul>' if notes else ""
    ids = image_ids(columns)
    if not ids:
        why = ("no job left test pictures (jobs write them at test time into test_images/ when "
               "callbacks.test_images_table.num_files > 0; older runs have none)")
        return f'<section id="images"><h2>Test images</h2><p class="empty">{escape(why)}</p>{notes}</section>'
    toggles = "".join(
        f'<label><input{attrs(type="checkbox", class_="job-toggle", data_job=c.job)}'
        f'{" checked" if i < MAX_SHOWN_JOBS else ""}> {escape(c.label)}</label>' for i, c in enumerate(columns))
    controls = ('<div class="controls"><button type="button" id="prev">◀ previous</button> '
                '<span id="image-position"></span> <button type="button" id="next">next ▶</button> '
                '<label><input type="checkbox" id="show-all"> every image at once</label></div>'
                f'<fieldset id="job-select"><legend>jobs shown</legend>{toggles}</fieldset>')
    rows = "".join(_row(k, image_id, columns) for k, image_id in enumerate(ids))
    intro = (f"{len(ids)} test images, the same ids for every job; under each prediction that job's own PSNR and "
             "SSIM of the image.")
    return (f'<section id="images"><h2>Test images</h2><p>{escape(intro)}</p>{notes}{controls}'
            f'<div class="rows">{rows}</div></section>')
