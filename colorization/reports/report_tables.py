"""The tables of ``report.html`` as HTML: the group table (``summary.csv``), the job table (``jobs.csv`` plus each
job's validation curve) and a run's metrics. Every value is escaped; every header sorts its column when clicked
(the page's script reads a cell's ``data-sort`` when it has one: the mean of a ``mean [low, high]`` cell).

Stable names for tests and readers: ``table#summary`` with one ``tr.group`` per group, ``table#jobs`` with one
``tr.job[data-job=<job>]`` per job, sortable headers ``th.sortable[data-type=number|text]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from colorization.reports.study_plots import encoder_start, read_val_curve
from colorization.reports.sweep_groups import IMAGE_METRICS, VERDICT_COLUMNS
from colorization.reports.sweep_summary import DECIMALS, SweepSummary, with_ci

NAMES = {"psnr": "PSNR ↑", "ssim": "SSIM ↑", "auc": "AuC ↑", "cf": "CF", "dcf": "dCF ↓"}
SPARK_W, SPARK_H = 120, 28  # a job's validation curve in the job table (px)


def attrs(**values: Any) -> str:
    """`` key="value"`` pairs, escaped; ``class_`` -> ``class``, ``data_job`` -> ``data-job``; ``None`` skipped."""
    out = []
    for key, value in values.items():
        if value is not None:
            out.append(f' {key.rstrip("_").replace("_", "-")}="{escape(str(value), quote=True)}"')
    return "".join(out)


def td(text: Any, sort: Any = None, **extra: Any) -> str:
    """A cell showing ``text`` (escaped; ``None`` -> empty), sorted by ``sort`` when given."""
    return f"<td{attrs(data_sort=_sort_key(sort), **extra)}>{escape('' if text is None else str(text))}</td>"


def _sort_key(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def table(table_id: str, head: Sequence[tuple[str, str]], rows: Sequence[str], caption: str = "") -> str:
    """``<table id=... class="sortable">``; ``head``: ``(label, "number" | "text")`` per column; ``rows``: ``<tr>``s."""
    ths = "".join(f'<th{attrs(class_="sortable", data_type=kind, title="click to sort")}>{escape(label)}</th>'
                  for label, kind in head)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (f'<table{attrs(id=table_id, class_="sortable")}>{cap}<thead><tr>{ths}</tr></thead>'
            f"<tbody>\n{''.join(rows)}</tbody></table>")


def _ci_cell(row: dict[str, Any], name: str, decimals: int) -> str:
    value = _number(row.get(name))
    return td(with_ci(row, name, decimals) if value is not None else "–", value)


def summary_table(summary: SweepSummary) -> str:
    """``table#summary``: one ``tr.group`` per configuration, the columns of ``summary.md`` (mean [CI]) and
    ``n_stopped`` when the summary has it."""
    base = summary.baseline_model
    head = [("model", "text"), ("loss", "text"), ("starting weights", "text"), ("n_seeds", "number"),
            ("n_images", "number"), *((f"{NAMES[m]} [CI]", "number") for m in IMAGE_METRICS),
            (NAMES["dcf"], "number"), ("gray PSNR", "number"),
            *((f"Δ{m.upper() if m != 'auc' else 'AuC'} vs {base} [CI]", "number") for m in IMAGE_METRICS),
            *((f"verdict ({m.upper() if m != 'auc' else 'AuC'})", "text") for m in VERDICT_COLUMNS),
            ("n_failed", "number")]
    # Jobs a signal stopped or kept from starting (sweep_groups' n_stopped), when the summary counts them.
    stopped = any("n_stopped" in g for g in summary.groups)
    head += [("n_stopped", "number")] if stopped else []
    rows = []
    for g in summary.groups:
        cells = [td(g.get("model")), td(g.get("loss")),
                 td(encoder_start(g.get("encoder_weights")), title=g.get("encoder_weights")),
                 td(g.get("n_seeds"), g.get("n_seeds")), td(g.get("n_images") or "–", g.get("n_images")),
                 *(_ci_cell(g, m, DECIMALS.get(m, 4)) for m in IMAGE_METRICS),
                 _ci_cell(g, "dcf", DECIMALS["dcf"]), _ci_cell(g, "psnr_gray", DECIMALS["psnr_gray"]),
                 *(_ci_cell(g, f"Δ{m}_vs_{base}", DECIMALS.get(m, 4)) for m in IMAGE_METRICS),
                 *(td(g.get(v) or "–") for v in VERDICT_COLUMNS.values()), td(g.get("n_failed"), g.get("n_failed"))]
        cells += [td(g.get("n_stopped"), g.get("n_stopped"))] if stopped else []
        rows.append(f'<tr{attrs(class_="group", data_jobs=g.get("jobs"))}>{"".join(cells)}</tr>\n')
    return table("summary", head, rows)


def job_status_metrics(job_dir: Path) -> dict[str, Any]:
    """``job_status.json``'s ``metrics`` (``val/psnr_best``... that ``jobs.csv`` leaves out); ``{}`` without one."""
    try:
        return json.loads((job_dir / "job_status.json").read_text()).get("metrics") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def sparkline(values: Sequence[float]) -> str:
    """An inline SVG polyline of ``values`` (one point per epoch), scaled to its own min..max; the values in its
    title (a tooltip)."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (SPARK_W - 4) / max(1, len(values) - 1)
    points = " ".join(f"{2 + i * step:.1f},{SPARK_H - 2 - (v - low) / span * (SPARK_H - 4):.1f}"
                      for i, v in enumerate(values))
    title = "val PSNR by epoch: " + ", ".join(f"{v:.2f}" for v in values)
    return (f'<svg class="curve" width="{SPARK_W}" height="{SPARK_H}" viewBox="0 0 {SPARK_W} {SPARK_H}" role="img">'
            f"<title>{escape(title)}</title>"
            f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/></svg>')


def val_curve_cell(job_dir: Path) -> str:
    """The job's val PSNR by epoch (``csv/metrics.csv``) as a sparkline cell, or a sentence saying why not."""
    metrics_csv = job_dir / "csv" / "metrics.csv"
    if not metrics_csv.is_file():
        return td("no CSV log", class_="no-curve")
    try:
        _, values = read_val_curve(metrics_csv)
    except (OSError, ValueError) as e:
        return td(f"unreadable CSV log ({e})", class_="no-curve")
    if not values:
        return td("no val/psnr in the CSV log", class_="no-curve")
    return f'<td{attrs(data_sort=repr(values[-1]))}>{sparkline(values)}</td>'


def _wall_time(seconds: Any) -> str:
    s = _number(seconds)
    if s is None:
        return ""
    return f"{int(s // 60)}m {s % 60:04.1f}s" if s >= 60 else f"{s:.1f}s"


def jobs_table(sweep_dir: Path, summary: SweepSummary, picture_counts: dict[str, int]) -> str:
    """``table#jobs``: one ``tr.job`` per job (``jobs.csv`` order) naming its model, loss, seed and starting
    weights (its number links the job's own ``report.html`` when it has one); its status and error as written
    (any status string); best val and test metrics; its val curve; how many test pictures it left
    (``picture_counts[job]``)."""
    base = summary.baseline_model
    head = [("job", "number"), ("model", "text"), ("loss", "text"), ("seed", "number"), ("starting weights", "text"),
            ("status", "text"), ("error", "text"), ("wall time", "number"), ("best val PSNR", "number"),
            ("test PSNR", "number"), ("test SSIM", "number"), ("test AuC", "number"), (f"ΔPSNR vs {base}", "number"),
            ("val PSNR by epoch", "number"), ("pictures", "number")]
    rows = []
    for r in summary.jobs:
        job_dir = sweep_dir / r["job"]
        best_val = _number(job_status_metrics(job_dir).get("val/psnr_best"))
        metric_cells = [td("" if (v := _number(r.get(k))) is None else f"{v:.{d}f}", v)
                        for k, d in (("test/psnr", 2), ("test/ssim", 4), ("test/auc", 4), (f"Δpsnr_vs_{base}", 2))]
        pictures = picture_counts.get(r["job"], 0)
        job_cell = td(r["job"], _number(r["job"]))
        if (job_dir / "report.html").is_file():  # the job's own page (train.py writes one per run)
            link = f'<a{attrs(href=r["job"] + "/report.html")}>{escape(r["job"])}</a>'
            job_cell = f"<td{attrs(data_sort=_sort_key(_number(r['job'])))}>{link}</td>"
        cells = [job_cell, td(r.get("model")), td(r.get("loss")),
                 td(r.get("seed"), r.get("seed")),
                 td(encoder_start(r.get("encoder_weights")), title=r.get("encoder_weights")),
                 td(r.get("status"), class_=f"status-{r.get('status')}"), td(r.get("error") or ""),
                 td(_wall_time(r.get("wall_time_s")), _number(r.get("wall_time_s"))),
                 td("" if best_val is None else f"{best_val:.2f}", best_val), *metric_cells,
                 val_curve_cell(job_dir), td(pictures or "no pictures", pictures)]
        rows.append(f'<tr{attrs(class_="job", data_job=r["job"], data_status=r.get("status"))}>{"".join(cells)}</tr>\n')
    return table("jobs", head, rows)


def metrics_table(metrics: dict[str, Any]) -> str:
    """``table#metrics`` of one run's ``metrics.json``: one ``tr.metric`` per value (its gray baseline beside it)."""
    rows = []
    for key in sorted(k for k in metrics if not k.endswith("_gray")):
        value, gray = _number(metrics[key]), _number(metrics.get(f"{key}_gray"))
        rows.append(f'<tr{attrs(class_="metric", data_metric=key)}>{td(key)}'
                    f'{td("" if value is None else f"{value:.4f}", value)}'
                    f'{td("" if gray is None else f"{gray:.4f}", gray)}</tr>\n')
    return table("metrics", [("metric", "text"), ("model", "number"), ("gray (a = b = 0)", "number")], rows)
