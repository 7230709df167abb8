"""``report.html``: a sweep (or one run) as one page that opens offline from the disk.

* a sweep: :func:`write_sweep_report` into the sweep dir (the sweep summary writes it after ``summary.csv``): a
  header (the dir, the command, the dates, the baseline, how to read an interval), the group table, bar charts with
  their intervals and the validation curves (:mod:`colorization.reports.study_plots`, PNGs in ``report/``), the job
  table, and the test images, job by job (:mod:`colorization.reports.report_browser`);
* a single run: :func:`write_run_report` into its run dir, beside ``metrics.json``.

Nothing is fetched: the style and the script are inline, the pictures are files inside the dir, linked by
relative paths. Every value is escaped.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from colorization.reports.report_browser import Column, browser_section, column
from colorization.reports.report_tables import attrs, jobs_table, metrics_table, summary_table
from colorization.reports.study_plots import encoder_start, val_curves, write_study_plots
from colorization.reports.sweep_summary import SweepSummary

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
ASSETS_DIR = "report"  # the charts, beside the page

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:middle}
th.sortable{cursor:pointer;background:#f3f3f3;white-space:nowrap}
th.sortable::after{content:" \\2195";color:#aaa}
th[aria-sort=ascending]::after{content:" \\25B2";color:#222}
th[aria-sort=descending]::after{content:" \\25BC";color:#222}
tr.job[data-status]:not([data-status=ok]){background:#fff3f3}
dl.header{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dl.header dt{font-weight:600}
code{background:#f5f5f5;padding:1px 3px}
img.chart{max-width:100%;margin:.5em 1em .5em 0;border:1px solid #eee}
.strip{display:flex;gap:6px;overflow-x:auto}
figure{margin:0;width:160px;flex:none}figure img{width:160px;height:auto;display:block}
figure.missing .no-picture,.no-picture{width:160px;height:80px;background:#eee;color:#777;display:flex;
align-items:center;justify-content:center}
figcaption{font-size:12px}.numbers{color:#555}
#job-select label{margin-right:1em;white-space:nowrap}.controls{margin:.5em 0}
.image-row h3{font-size:13px;margin:.8em 0 .3em}
"""

# Sort a table by a clicked header (numbers by data-sort, else the text; empty cells last); the image browser's
# previous / next, "every image" and job checkboxes. Without the script the page shows everything, unsorted.
SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th.sortable').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var up = th.getAttribute('aria-sort') !== 'ascending', number = th.dataset.type === 'number';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      var key = function (row) {
        var c = row.cells[col], v = c.dataset.sort !== undefined ? c.dataset.sort : c.textContent.trim();
        return number ? parseFloat(v) : v.toLowerCase();
      };
      var rows = Array.from(table.tBodies[0].rows), sign = up ? 1 : -1;
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), bx = number ? isNaN(x) : x === '', by = number ? isNaN(y) : y === '';
        if (bx || by) { return bx - by; }
        return sign * (x < y ? -1 : x > y ? 1 : 0);
      });
      rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
    });
  });
});
(function () {
  var rows = Array.from(document.querySelectorAll('#images .image-row'));
  if (!rows.length) { return; }
  var at = 0, all = document.getElementById('show-all'), where = document.getElementById('image-position');
  var show = function () {
    rows.forEach(function (r, i) { r.hidden = !all.checked && i !== at; });
    where.textContent = all.checked ? rows.length + ' images' : (at + 1) + ' / ' + rows.length;
  };
  var step = function (d) { at = (at + d + rows.length) % rows.length; show(); };
  document.getElementById('prev').addEventListener('click', function () { step(-1); });
  document.getElementById('next').addEventListener('click', function () { step(1); });
  all.addEventListener('change', show);
  document.querySelectorAll('input.job-toggle').forEach(function (box) {
    var apply = function () {
      document.querySelectorAll('#images figure.prediction').forEach(function (f) {
        if (f.dataset.job === box.dataset.job) { f.hidden = !box.checked; }
      });
    };
    box.addEventListener('change', apply);
    apply();
  });
  show();
})();
"""


def page(title: str, sections: list[str]) -> str:
    """The whole document: inline style and script, no external reference."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(sections) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")


def header(title: str, facts: list[tuple[str, str]], note: str = "") -> str:
    """``<header>``: the title and ``facts`` as (name, value) lines, then ``note``."""
    lines = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return (f'<header><h1>{escape(title)}</h1><dl class="header">{lines}</dl>'
            + (f'<p class="how-to-read">{escape(note)}</p>' if note else "") + "</header>")


def charts_section(charts: list[Path], page_dir: Path, note: str = "") -> str:
    """``img.chart`` per PNG (linked relative to the page), then ``note`` (e.g. why a chart is missing)."""
    imgs = "".join(f'<img{attrs(class_="chart", src=p.relative_to(page_dir).as_posix(), alt=p.stem)}>'
                   for p in charts)
    return f'<section id="charts"><h2>Charts</h2>{imgs}' + (f"<p>{escape(note)}</p>" if note else "") + "</section>"


def _write(path: Path, text: str) -> Path:
    """Written to a temporary name and renamed: a reader never opens half a page."""
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


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


def _started(job_dirs: list[Path]) -> str:
    """The earliest ``started_at`` of the jobs' status files (``""`` without one)."""
    times = []
    for d in job_dirs:
        try:
            times.append(str(json.loads((d / "job_status.json").read_text()).get("started_at") or ""))
        except (OSError, ValueError, AttributeError):
            continue
    return min((t for t in times if t), default="")


def _job_label(r: dict[str, Any]) -> str:
    return (f"job {r['job']}: {r.get('model')} · {r.get('loss')} · seed {r.get('seed')} · "
            f"{encoder_start(r.get('encoder_weights'))}")


def write_sweep_report(sweep_dir: str | Path, summary: SweepSummary) -> Path:
    """``<sweep_dir>/report.html`` (and its charts in ``report/``) from the summary of the sweep; returns the page."""
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
    facts = [("sweep dir", str(sweep_dir)), ("command", sweep_command(sweep_dir)),
             ("started", _started([sweep_dir / r["job"] for r in summary.jobs]) or "unknown"),
             ("page written", datetime.now().astimezone().isoformat(timespec="seconds")),
             ("baseline", f"{summary.baseline_model} (each model against it with the same loss)"),
             ("jobs", f"{len(summary.jobs)} ({len(summary.failed)} not ok)")]
    how = (f"Each [low, high] is a {summary.confidence:.0%} bootstrap confidence interval over seeds × test images; "
           f"a verdict says better or worse only when the interval of the paired difference against "
           f"{summary.baseline_model} excludes 0.")
    sections = [header(f"Sweep {sweep_dir.name}", facts, how),
                f'<section id="groups"><h2>Models</h2>{summary_table(summary)}</section>',
                charts_section(charts, sweep_dir, curve_note),
                f'<section id="job-list"><h2>Jobs</h2>{jobs_table(sweep_dir, summary, counts)}</section>',
                browser_section(columns, skipped)]
    return _write(sweep_dir / REPORT_FILE, page(f"Sweep {sweep_dir}", sections))


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
             ("page written", datetime.now().astimezone().isoformat(timespec="seconds"))]
    (run_dir / ASSETS_DIR).mkdir(exist_ok=True)
    job = {"job": run_dir.name, "status": "ok"}
    group = {"model": model, "loss": loss, "jobs": run_dir.name, "encoder_weights": encoder_weights}
    curve = val_curves(run_dir.parent, [group], [job], run_dir / ASSETS_DIR / "val_psnr.png")
    note = "" if curve else ("No validation curve: no val/psnr in csv/metrics.csv (no CSV log; logger=default or "
                             "csv writes it).")
    pictures = column(run_dir.name, f"{model} · {loss}", run_dir, run_dir, run_dir / "test_images.csv")
    sections = [header(f"Run {run_dir.name}", facts),
                f'<section id="run-metrics"><h2>Metrics</h2>{metrics_table(metrics)}</section>',
                charts_section([curve] if curve else [], run_dir, note),
                browser_section([pictures])]
    return _write(run_dir / REPORT_FILE, page(f"Run {run_dir}", sections))
