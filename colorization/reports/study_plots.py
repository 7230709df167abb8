"""The study's plots as PNGs in the sweep dir: one bar chart per metric (mean and 95% interval per group, the gray
floor as a line) and the validation PSNR per epoch of every job, coloured by group.

Input is the sweep summary (:func:`colorization.reports.sweep_summary.summarize`): its group rows (``summary.csv``
columns) and job rows (``jobs.csv``). Drawn with matplotlib's Agg canvas (no display, no pyplot state).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from colorization.io.atomic import atomic_write
from colorization.reports.labels import group_label, several_losses
from colorization.reports.metric_names import METRICS
from colorization.reports.text_format import as_number

log = logging.getLogger(__name__)

# The metrics with a bar chart (summary.csv columns).
BAR_METRICS = ("psnr", "ssim", "auc")
VAL_CURVE = "val/psnr"  # the CSV logger's column the curves plot, by ``epoch``
VAL_CURVE_FILE = "study_val_psnr.png"
DPI = 120
TICK_CHARS = 20  # a bar's label wraps its model name at this many characters (8 pt: about one bar's width)


def axis_label(metric: str) -> str:
    """``"PSNR (dB) ↑"``: the metric's label, unit and which way is better."""
    m = METRICS[metric]
    return " ".join(p for p in (m.label, f"({m.unit})" if m.unit else "", m.arrow) if p)


def save_figure(fig: Figure, path: Path) -> Path:
    """``fig`` as a PNG at ``path``, written whole (:func:`colorization.io.atomic.atomic_write`)."""
    png = io.BytesIO()
    fig.savefig(png, format="png")
    return atomic_write(path, png.getvalue())


def group_colors(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct RGBA colours (tab10, then tab20 past ten groups), one per group in summary order."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _gray_floor(groups: Sequence[dict[str, Any]], metric: str) -> float | None:
    """The gray prediction's mean (the same test images for every group): the mean over groups that have one."""
    values = [v for g in groups if (v := as_number(g.get(f"{metric}_gray"))) is not None]
    return sum(values) / len(values) if values else None


def metric_bars(groups: Sequence[dict[str, Any]], metric: str, path: Path) -> Path:
    """``path``: one bar per group (its mean of ``metric`` over seeds x images), whiskers its interval when the
    summary has one, the gray floor as a dashed line; a group without a finished seed gets no bar."""
    n = len(groups)
    fig = Figure(figsize=(max(6.0, 1.3 * n + 1.5), 4.8), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    with_loss = several_losses(groups)
    for i, (g, color) in enumerate(zip(groups, group_colors(n), strict=True)):
        mean = as_number(g.get(metric))
        if mean is None:
            ax.text(i, 0.5, "no finished seed", transform=ax.get_xaxis_transform(), ha="center", rotation=90,
                    fontsize=8, color="0.4")
            continue
        low, high = as_number(g.get(f"{metric}_ci_low")), as_number(g.get(f"{metric}_ci_high"))
        yerr = [[mean - low], [high - mean]] if low is not None and high is not None else None
        ax.bar(i, mean, color=color, yerr=yerr, capsize=6)
    gray = _gray_floor(groups, metric)
    if gray is not None:
        ax.axhline(gray, color="0.35", linestyle="--", linewidth=1.2, label="gray (a = b = 0)")
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xticks(range(n), [group_label(g, with_loss, width=TICK_CHARS) for g in groups], fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylabel(axis_label(metric))
    ax.set_title(f"test {METRICS[metric].label}: mean and 95% CI over seeds x test images")
    _zoom_to_data(ax, groups, metric, gray)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def _zoom_to_data(ax: Any, groups: Sequence[dict[str, Any]], metric: str, gray: float | None) -> None:
    """Bars that differ by a few percent look equal from zero: start the axis a little below the lowest value."""
    values = [v for g in groups for k in ("", "_ci_low", "_ci_high") if (v := as_number(g.get(metric + k))) is not None]
    values += [gray] if gray is not None else []
    if values:
        low, high = min(values), max(values)
        pad = 0.15 * (high - low) or 0.05 * abs(high) or 1.0
        ax.set_ylim(low - pad, high + 2 * pad)  # room above the bars for the legend


def read_val_curve(metrics_csv: Path, column: str = VAL_CURVE) -> tuple[list[int], list[float]]:
    """``(epochs, values)`` of ``column`` in a Lightning CSV logger's ``metrics.csv``, one value per epoch (the
    last one logged), epochs ascending; empty lists when the file lacks the column or has no value in it."""
    by_epoch: dict[int, float] = {}
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            value, epoch = as_number(row.get(column)), row.get("epoch")
            if value is not None and epoch not in (None, ""):
                by_epoch[int(float(epoch))] = value
    epochs = sorted(by_epoch)
    return epochs, [by_epoch[e] for e in epochs]


def job_curves(sweep_dir: Path, groups: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]],
               ) -> list[tuple[int, str, list[int], list[float]]]:
    """``(group index, job, epochs, val PSNR values)`` per finished job of the groups that has a curve in
    ``<sweep_dir>/<job>/csv/metrics.csv``; jobs without that file or column are skipped."""
    status = {r["job"]: r["status"] for r in jobs}
    curves = []
    for k, g in enumerate(groups):
        for job in str(g.get("jobs") or "").split():
            metrics_csv = Path(sweep_dir) / job / "csv" / "metrics.csv"
            if status.get(job) == "ok" and metrics_csv.is_file():
                epochs, values = read_val_curve(metrics_csv)
                if epochs:
                    curves.append((k, job, epochs, values))
    return curves


def val_curves(sweep_dir: Path, groups: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]],
               path: Path) -> Path | None:
    """``path``: validation PSNR by epoch, one line per job of :func:`job_curves`, the seeds of a group in the
    group's colour (one legend entry per group; none for a single run); ``None`` (nothing written) when no job has
    a curve. The x axis spans the epochs logged, half an epoch either side (one epoch: one point at its number)."""
    curves = job_curves(sweep_dir, groups, jobs)
    if not curves:
        log.warning("no job of %s has %s in csv/metrics.csv: no validation curve plot", sweep_dir, VAL_CURVE)
        return None
    with_loss, colors = several_losses(groups), group_colors(len(groups))
    fig = Figure(figsize=(8.0, 4.8), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    labelled: set[int] = set()
    for k, _, epochs, values in curves:
        label = None if k in labelled else group_label(groups[k], with_loss, " | ")
        labelled.add(k)
        ax.plot(epochs, values, color=colors[k], marker="o", markersize=3, linewidth=1.2, alpha=0.85, label=label)
    epochs = [e for _, _, job_epochs, _ in curves for e in job_epochs]
    ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even just one
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {axis_label('psnr')}")
    if len(curves) == 1:
        ax.set_title("validation PSNR per epoch of this run")
    else:
        ax.set_title("validation PSNR per epoch: one line per job, one colour per group (its seeds)")
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def write_study_plots(sweep_dir: Path, groups: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]],
                      out_dir: Path | None = None) -> list[Path]:
    """``study_psnr.png``, ``study_ssim.png``, ``study_auc.png`` and (when any job logged it)
    ``study_val_psnr.png`` in ``out_dir`` (default: the sweep dir); returns the paths written, in that order."""
    out_dir = Path(out_dir or sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [metric_bars(groups, m, out_dir / f"study_{m}.png") for m in BAR_METRICS]
    curves = val_curves(Path(sweep_dir), groups, jobs, out_dir / VAL_CURVE_FILE)
    return paths + ([curves] if curves else [])
