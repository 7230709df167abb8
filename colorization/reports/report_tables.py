"""The tables of ``report.html`` as view models (:mod:`colorization.reports.report_view`): the group table
(``summary.csv``), the job table (``jobs.csv`` plus each job's validation curve) and a run's metrics. Every header
sorts its column when clicked (the page's script reads a cell's ``data-sort`` when it has one: the mean of a
``mean [low, high]`` cell).

Stable names for tests and readers: ``table#summary`` with one ``tr.group`` per group, ``table#jobs`` with one
``tr.job[data-job=<job>]`` per job (``data-status`` its status, shown as a badge), sortable headers
``th.sortable[data-type=number|text]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from colorization.reports.labels import encoder_start
from colorization.reports.metric_names import IMAGE_METRICS, METRICS, VERDICT_METRICS
from colorization.reports.report_view import Cell, Row, Table, cell, sort_key, sparkline
from colorization.reports.study_plots import read_val_curve
from colorization.reports.sweep_groups import VERDICT_COLUMNS
from colorization.reports.sweep_summary import SweepSummary
from colorization.reports.sweep_table import BEST_VAL
from colorization.reports.text_format import as_number, with_ci


def _ci_cell(row: dict[str, Any], name: str, signed: bool = False, verdict: str | None = None) -> Cell:
    """The mean, its interval on a line below, then ``verdict`` as a badge when given; ``–`` without a value
    (the verdict alone when there is one: the baseline's)."""
    value = as_number(row.get(name))
    if value is None:
        return cell(verdict, badge=f"verdict-{verdict}") if verdict else cell("–")
    mean, _, ci = with_ci(row, name, signed=signed, sep="\n").partition("\n")
    return Cell(mean, sort_key(value), ci=ci or None, verdict=verdict)


def _not_ok_cell(group: dict[str, Any]) -> Cell:
    """``"1 failed · 1 diverged"``: the group's jobs that did not finish ok, by kind (sorted by their total)."""
    counts = [(int(group.get(f"n_{word}") or 0), word) for word in ("failed", "diverged", "stopped")]
    return cell(" · ".join(f"{n} {word}" for n, word in counts if n) or "–", sum(n for n, _ in counts))


def summary_table(summary: SweepSummary) -> Table:
    """``table#summary``: one ``tr.group`` per configuration: its means over their intervals, the paired difference
    against the baseline with the verdict under it (a badge), the jobs that did not finish ok by kind. Narrower
    than ``summary.md`` (no difference in colourfulness, which has no better side) so it fits a 1400 px window."""
    base = summary.baseline_model
    head = [("model", "text"), ("loss", "text"), ("starting weights", "text"), ("seeds", "number"),
            ("images", "number"), *((f"{METRICS[m].header} [CI]", "number") for m in IMAGE_METRICS),
            (METRICS["dcf"].header, "number"), ("gray PSNR", "number"),
            *((f"Δ{METRICS[m].label} vs {base} [CI], verdict", "number") for m in VERDICT_METRICS),
            ("jobs not ok", "number")]
    rows = []
    for g in summary.groups:
        cells = [cell(g.get("model")), cell(g.get("loss")),
                 cell(encoder_start(g.get("encoder_weights")), title=g.get("encoder_weights")),
                 cell(g.get("n_seeds"), g.get("n_seeds")), cell(g.get("n_images") or "–", g.get("n_images")),
                 *(_ci_cell(g, m) for m in IMAGE_METRICS), _ci_cell(g, "dcf"), _ci_cell(g, "psnr_gray"),
                 *(_ci_cell(g, f"Δ{m}_vs_{base}", signed=True, verdict=g.get(VERDICT_COLUMNS[m]))
                   for m in VERDICT_METRICS),
                 _not_ok_cell(g)]
        rows.append(Row(cells, "group", {"jobs": g.get("jobs")}))
    return Table("summary", head, rows)


def val_curve_cell(job_dir: Path) -> Cell:
    """The job's val PSNR by epoch (``csv/metrics.csv``) as a sparkline cell, or a sentence saying why not."""
    metrics_csv = job_dir / "csv" / "metrics.csv"
    if not metrics_csv.is_file():
        return cell("no CSV log", css="no-curve")
    try:
        _, values = read_val_curve(metrics_csv)
    except (OSError, ValueError) as e:
        return cell(f"unreadable CSV log ({e})", css="no-curve")
    if not values:
        return cell("no val/psnr in the CSV log", css="no-curve")
    return Cell(sort=repr(values[-1]), curve=sparkline(values))


def _wall_time(seconds: Any) -> str:
    s = as_number(seconds)
    if s is None:
        return ""
    return f"{int(s // 60)}m {s % 60:04.1f}s" if s >= 60 else f"{s:.1f}s"


def _metric_cell(value: Any, name: str, signed: bool = False) -> Cell:
    v = as_number(value)
    return cell("" if v is None else METRICS[name].format(v, signed), v)


def jobs_table(sweep_dir: Path, summary: SweepSummary, picture_counts: dict[str, int]) -> Table:
    """``table#jobs``: one ``tr.job`` per job (``jobs.csv`` order) naming its model, loss, seed and starting
    weights (its number links the job's own ``report.html`` when it has one); its status (a badge: ok, failed,
    diverged, ...) and error as written; best val and test metrics; its val curve; how many test pictures it left
    (``picture_counts[job]``)."""
    base = summary.baseline_model
    head = [("job", "number"), ("model", "text"), ("loss", "text"), ("seed", "number"), ("starting weights", "text"),
            ("status", "text"), ("error", "text"), ("wall time", "number"), ("best val PSNR", "number"),
            *((f"test {METRICS[m].label}", "number") for m in VERDICT_METRICS), (f"ΔPSNR vs {base}", "number"),
            ("val PSNR by epoch", "number"), ("pictures", "number")]
    rows = []
    for r in summary.jobs:
        job_dir = sweep_dir / r["job"]
        has_page = (job_dir / "report.html").is_file()  # the job's own page (train.py writes one per run)
        pictures = picture_counts.get(r["job"], 0)
        status = str(r.get("status"))
        cells = [cell(r["job"], as_number(r["job"]), href=f"{r['job']}/report.html" if has_page else None),
                 cell(r.get("model")), cell(r.get("loss")), cell(r.get("seed"), r.get("seed")),
                 cell(encoder_start(r.get("encoder_weights")), title=r.get("encoder_weights")),
                 cell(status, css=f"status-{status}", badge=f"status-{status}"),
                 cell(r.get("error") or "", css="error"),
                 cell(_wall_time(r.get("wall_time_s")), as_number(r.get("wall_time_s"))),
                 _metric_cell(r.get(BEST_VAL), "psnr"),
                 *(_metric_cell(r.get(f"test/{m}"), m) for m in VERDICT_METRICS),
                 _metric_cell(r.get(f"Δpsnr_vs_{base}"), "psnr", signed=True),
                 val_curve_cell(job_dir), cell(pictures or "no pictures", pictures)]
        rows.append(Row(cells, "job", {"job": r["job"], "status": r.get("status")}))
    return Table("jobs", head, rows)


def metrics_table(metrics: dict[str, Any]) -> Table:
    """``table#metrics`` of one run's ``metrics.json``: one ``tr.metric`` per value (its gray baseline beside it)."""
    rows = []
    for key in sorted(k for k in metrics if not k.endswith("_gray")):
        value, gray = as_number(metrics[key]), as_number(metrics.get(f"{key}_gray"))
        rows.append(Row([cell(key), cell("" if value is None else f"{value:.4f}", value),
                         cell("" if gray is None else f"{gray:.4f}", gray)], "metric", {"metric": key}))
    return Table("metrics", [("metric", "text"), ("model", "number"), ("gray (a = b = 0)", "number")], rows)
