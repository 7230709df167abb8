"""``report.html``: a sweep (or one run) as one page that opens offline from the disk.

* a sweep: :func:`write_sweep_report` into the sweep dir (the sweep summary writes it after ``summary.csv``): a
  header (the dir, the command, the dates, the baseline, how to read an interval), the group table, bar charts with
  their intervals and the validation curves (:mod:`colorization.reports.study_plots`, PNGs in ``report/``), the job
  table, and the test images, job by job (:mod:`colorization.reports.report_browser`);
* a single run: :func:`write_run_report` into its run dir, beside ``metrics.json``.

The page is rendered from the Jinja2 templates in ``templates/`` (:mod:`colorization.reports.templating`, autoescape
on) from a view model built here and in :mod:`~colorization.reports.report_tables` and
:mod:`~colorization.reports.report_browser`. Nothing is fetched: the style and the script are inlined, the pictures
are files inside the dir, linked by relative paths.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from colorization.io.atomic import atomic_write
from colorization.reports.labels import encoder_start
from colorization.reports.report_browser import Column, browser, column
from colorization.reports.report_tables import jobs_table, metrics_table, summary_table
from colorization.reports.study_plots import val_curves, write_study_plots
from colorization.reports.sweep_summary import SweepSummary
from colorization.reports.templating import render

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
ASSETS_DIR = "report"  # the charts, beside the page


def _charts(charts: list[Path], page_dir: Path) -> list[tuple[str, str]]:
    """``(src relative to the page, alt)`` per chart."""
    return [(p.relative_to(page_dir).as_posix(), p.stem) for p in charts]


def _read_yaml(path: Path) -> Any:
    try:
        return OmegaConf.load(path) if path.is_file() else None
    except Exception as e:  # noqa: BLE001 - a header line must not cost the page
        log.warning("%s unreadable (%s)", path, e)
        return None


def sweep_command(sweep_dir: Path) -> str:
    """``python <task>.py -m <overrides>`` from the sweep's ``multirun.yaml`` (Hydra writes it when the sweep
    starts); a sentence saying it is unknown without one."""
    cfg = _read_yaml(sweep_dir / "multirun.yaml")
    if cfg is None:
        return "unknown (no multirun.yaml in the sweep dir)"
    task = OmegaConf.select(cfg, "hydra.job.name", default=None) or "train"
    overrides = OmegaConf.select(cfg, "hydra.overrides.task", default=None) or []
    return " ".join([f"python {task}.py -m", *(str(o) for o in overrides)])


def _job_label(r: dict[str, Any]) -> str:
    return (f"job {r['job']}: {r.get('model')} · {r.get('loss')} · seed {r.get('seed')} · "
            f"{encoder_start(r.get('encoder_weights'))}")


def _jobs_fact(summary: SweepSummary) -> str:
    """``"6 (1 failed, 1 diverged, 1 stopped)"``: how many jobs, and those that did not finish ok by kind."""
    kinds = [(len(summary.failed), "failed"), (len(summary.diverged), "diverged"), (len(summary.stopped), "stopped")]
    said = ", ".join(f"{n} {word}" for n, word in kinds if n)
    return f"{len(summary.jobs)} ({said or 'all ok'})"


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def write_sweep_report(sweep_dir: str | Path, summary: SweepSummary) -> Path:
    """``<sweep_dir>/report.html`` (and its charts in ``report/``) from the summary of the sweep; returns the page.
    The conclusion opens the page, above the facts and the tables."""
    sweep_dir = Path(sweep_dir).resolve()
    assets = sweep_dir / ASSETS_DIR
    charts = write_study_plots(sweep_dir, summary.groups, summary.jobs, assets) if summary.groups else []
    curve_note = "" if any(p.stem.endswith("val_psnr") for p in charts) else (
        "No validation curves: no job has val/psnr in a CSV log (csv/metrics.csv; logger=default or csv writes it).")
    columns: list[Column] = []
    skipped: list[str] = []
    for r in summary.jobs:
        if r["status"] == "ok":
            columns.append(column(r["job"], _job_label(r), sweep_dir / r["job"], sweep_dir, r.get("test_images")))
        else:
            skipped.append(f"{_job_label(r)}: {r['status']}, no pictures")
    counts = {c.job: len(c.pictures) for c in columns}
    started = min((str(r.get("started_at")) for r in summary.jobs if r.get("started_at")), default="")
    facts = [("sweep dir", str(sweep_dir)), ("command", sweep_command(sweep_dir)), ("started", started or "unknown"),
             ("page written", _now()),
             ("baseline", f"{summary.baseline_model} (each model against it with the same loss)"),
             ("jobs", _jobs_fact(summary))]
    how = (f"Each [low, high] is a {summary.confidence:.0%} bootstrap confidence interval over seeds × test images; "
           f"a verdict says better or worse only when the interval of the paired difference against "
           f"{summary.baseline_model} excludes 0.")
    page = render("sweep.html.j2", title=f"Sweep {sweep_dir}", heading=f"Sweep {sweep_dir.name}", facts=facts,
                  how_to_read=how, conclusion=summary.conclusion, groups=summary_table(summary),
                  charts=_charts(charts, sweep_dir), chart_note=curve_note,
                  jobs=jobs_table(sweep_dir, summary, counts), browser=browser(columns, skipped))
    return atomic_write(sweep_dir / REPORT_FILE, page)


def write_run_report(run_dir: str | Path, encoder_weights: str | None = None) -> Path:
    """``<run_dir>/report.html`` of a single run: its overrides, ``metrics.json`` as a table, its validation
    curve (``csv/metrics.csv``; a sentence without one) and its test pictures. Call it once ``metrics.json`` is
    written; it reads only files in the run dir (no ``job_status.json`` needed). ``encoder_weights``: where the
    network's encoder started (``imagenet:...``, ``scratch``, ...; ``None``: a network without one, e.g. vanilla),
    which the run knows and its files don't yet."""
    run_dir = Path(run_dir).resolve()
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    overrides = _read_yaml(run_dir / ".hydra" / "overrides.yaml") or []
    choices = OmegaConf.select(_read_yaml(run_dir / ".hydra" / "hydra.yaml") or OmegaConf.create(),
                               "hydra.runtime.choices", default=None) or {}
    model, loss = choices.get("model"), choices.get("loss")
    facts = [("run dir", str(run_dir)), ("overrides", " ".join(str(o) for o in overrides) or "(none)"),
             ("model · loss", f"{model} · {loss}"), ("starting weights", encoder_start(encoder_weights)),
             ("page written", _now())]
    (run_dir / ASSETS_DIR).mkdir(exist_ok=True)
    job = {"job": run_dir.name, "status": "ok"}
    group = {"model": model, "loss": loss, "jobs": run_dir.name, "encoder_weights": encoder_weights}
    curve = val_curves(run_dir.parent, [group], [job], run_dir / ASSETS_DIR / "val_psnr.png")
    note = "" if curve else ("No validation curve: no val/psnr in csv/metrics.csv (no CSV log; logger=default or "
                             "csv writes it).")
    pictures = column(run_dir.name, f"{model} · {loss}", run_dir, run_dir, run_dir / "test_images.csv")
    page = render("run.html.j2", title=f"Run {run_dir}", heading=f"Run {run_dir.name}", facts=facts,
                  metrics=metrics_table(metrics), charts=_charts([curve] if curve else [], run_dir),
                  chart_note=note, browser=browser([pictures]))
    return atomic_write(run_dir / REPORT_FILE, page)
