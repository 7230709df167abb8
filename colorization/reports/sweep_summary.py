"""The sweep summary: one row per (model, loss) configuration with 95% intervals and a verdict against the
baseline, and one row per job (how a failed job is reported).

A Hydra callback writes into the sweep dir at the end of every multirun, and prints the group table:

* ``summary.csv``: one row per group of jobs that differ only in their seed (:mod:`colorization.reports.sweep_groups`):
  ``n_seeds``, ``n_images``, per metric the mean and ``<metric>_ci_low`` / ``_ci_high``, the gray floor, the paired
  difference against the baseline with its interval, and ``verdict`` (PSNR), ``verdict_ssim``, ``verdict_auc``;
* ``jobs.csv``: one row per job (:func:`colorization.reports.sweep_table.collect_rows`);
* ``summary.md``: both tables, the group table first;
* ``report.html``: the tables, charts and test pictures as one offline page (:mod:`colorization.reports.report_html`).

``colorization summary SWEEP_DIR`` rebuilds them for any sweep dir. Everything comes from each
job's ``job_status.json``, ``metrics.json`` values and ``test_images.csv``, so every launcher works.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from colorization.reports.sweep_groups import IMAGE_METRICS, STOPPED, VERDICT_COLUMNS, group_columns, group_rows
from colorization.reports.sweep_table import collect_rows

__all__ = ["SweepSummary", "SweepSummaryCallback", "collect_rows", "main", "summarize", "write_report",
           "write_summary"]

log = logging.getLogger(__name__)

SUMMARY_CSV, JOBS_CSV, SUMMARY_MD = "summary.csv", "jobs.csv", "summary.md"
# Decimals a person reads a metric and its difference with (the CSV files keep every digit).
DECIMALS = {"psnr": 2, "ssim": 4, "auc": 4, "cf": 2, "dcf": 2, "psnr_gray": 2}
# The terminal has room for these; colourfulness (no verdict on it) is in summary.md and summary.csv.
PRINTED_METRICS = ("psnr", "ssim", "auc")


@dataclass
class SweepSummary:
    """``groups``: one dict per configuration (``summary.csv``); ``jobs``: one dict per job (``jobs.csv``)."""

    groups: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    baseline_model: str = "vanilla"
    confidence: float = 0.95

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Jobs that ran and failed (not those a signal stopped or kept from starting: see ``stopped``)."""
        return [r for r in self.jobs if r["status"] not in ("ok", *STOPPED)]

    @property
    def stopped(self) -> list[dict[str, Any]]:
        """Jobs a SIGTERM / Ctrl-C stopped (``terminated``) or kept from starting (``not_run``)."""
        return [r for r in self.jobs if r["status"] in STOPPED]


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:+.4f}" if v < 0 else f"{v:.4f}"
    return str(v)


def with_ci(row: dict[str, Any], name: str, decimals: int, sep: str = " ") -> str:
    """``mean [low, high]`` (``sep`` between them), or the mean alone when there is no interval."""
    if row.get(name) is None:
        return ""
    low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    ci = f"{sep}[{low:.{decimals}f}, {high:.{decimals}f}]" if low is not None and high is not None else ""
    return f"{row[name]:.{decimals}f}{ci}"


def _group_view(summary: SweepSummary, sep: str = " ", metrics: tuple[str, ...] = tuple(IMAGE_METRICS),
                ) -> tuple[list[str], list[list[str]]]:
    """The group table as a person reads it (md and terminal): ``mean [low, high]`` cells for ``metrics``,
    ``Δ<metric>`` the paired difference against the baseline (see :func:`_caption`)."""
    head = ["model", "loss", "encoder_weights", "n_seeds", "n_images", *metrics, "dcf", "psnr_gray",
            *(f"Δ{m}" for m in metrics), *VERDICT_COLUMNS.values(), "n_failed", "n_stopped"]
    rows = []
    for r in summary.groups:
        means = [with_ci(r, m, DECIMALS[m], sep) for m in (*metrics, "dcf", "psnr_gray")]
        diffs = [with_ci(r, f"Δ{m}_vs_{summary.baseline_model}", DECIMALS[m], sep) for m in metrics]
        rows.append([_fmt(r["model"]), _fmt(r["loss"]), _fmt(r["encoder_weights"]), _fmt(r["n_seeds"]),
                     _fmt(r["n_images"]), *means, *diffs, *(_fmt(r[v]) for v in VERDICT_COLUMNS.values()),
                     _fmt(r["n_failed"]), _fmt(r.get("n_stopped"))])
    return head, rows


def _caption(summary: SweepSummary) -> str:
    return (f"mean [{summary.confidence:.0%} CI] over seeds x test images; Δ: paired difference against "
            f"{summary.baseline_model} with the same loss (same seeds, same images); verdict: PSNR's")


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in rows]


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_summary(sweep_dir: Path, summary: SweepSummary) -> tuple[Path, Path, Path]:
    """``summary.csv`` (groups, every column), ``jobs.csv`` (jobs, every column) and ``summary.md`` (the groups as
    ``mean [low, high]``, then the jobs' readable columns) in ``sweep_dir``."""
    csv_path, jobs_path, md_path = sweep_dir / SUMMARY_CSV, sweep_dir / JOBS_CSV, sweep_dir / SUMMARY_MD
    _write_csv(csv_path, group_columns(summary.baseline_model), summary.groups)
    job_columns = list(summary.jobs[0]) if summary.jobs else ["job", "status"]
    _write_csv(jobs_path, job_columns, summary.jobs)

    hidden = ("best_ckpt", "num_nodes", "test_images", "group")
    shown = [c for c in job_columns if c not in hidden and any(r.get(c) not in (None, "") for r in summary.jobs)]
    job_table = _md_table(shown, [[_fmt(r.get(c)) for c in shown] for r in summary.jobs])
    md = [f"# Sweep summary: {sweep_dir}", "",
          "## Models", "", _caption(summary), "", *_md_table(*_group_view(summary)), "",
          "## Jobs", "", *job_table]
    md_path.write_text("\n".join(md) + "\n")
    return csv_path, jobs_path, md_path


def print_summary(summary: SweepSummary, title: str) -> None:
    """The group table, then one line per failed job with its error."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    head, rows = _group_view(summary, sep="\n", metrics=PRINTED_METRICS)
    caption = _caption(summary) + "; cf and every column: summary.md"
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD)
    for c in head:
        # Numbers keep their width (each cell is two short lines); labels and verdicts wrap when space runs out.
        words = c in ("model", "encoder_weights") or c.startswith("verdict")
        table.add_column(c, overflow="fold", no_wrap=not words)
    for cells in rows:
        table.add_row(*(escape(c) for c in cells))
    console = Console(width=240)  # fixed, so a log file reads the same whatever terminal made it
    console.print(table)
    for r in [*summary.failed, *summary.stopped]:
        console.print(f"[red]job {escape(r['job'])} {escape(str(r['status']))}[/red] ({escape(r['overrides'])}): "
                      f"{escape(str(r.get('error', '')))}")


def write_report(sweep_dir: Path, summary: SweepSummary) -> Path | None:
    """``report.html`` (:mod:`colorization.reports.report_html`); ``None`` when it could not be written: the page
    is a view of the files already written, so its failure is logged and costs the sweep nothing else."""
    from colorization.reports.report_html import write_sweep_report  # it imports this module

    try:
        return write_sweep_report(sweep_dir, summary)
    except Exception:  # noqa: BLE001 - logged with its traceback; summary.csv/.md and jobs.csv are written
        log.exception("%s: report.html not written", sweep_dir)
        return None


def summarize(sweep_dir: str | Path, baseline_model: str = "vanilla", show: bool = True, confidence: float = 0.95,
              n_resamples: int = 2000, report: bool = True) -> SweepSummary:
    """Read the sweep dir, compute the group statistics, write the three files and (``report``) ``report.html``,
    print the table when ``show``."""
    sweep_dir = Path(sweep_dir)
    jobs = collect_rows(sweep_dir, baseline_model)
    summary = SweepSummary(group_rows(jobs, baseline_model, confidence, n_resamples), jobs, baseline_model,
                           confidence)
    write_summary(sweep_dir, summary)
    if report:
        write_report(sweep_dir, summary)
    if show:
        print_summary(summary, f"Sweep {sweep_dir}")
    return summary


class SweepSummaryCallback(Callback):
    """Hydra callback: at the end of a multirun, write the summary and ``report.html`` and print the table; exit
    non-zero if a job failed."""

    def __init__(self, baseline_model: str = "vanilla", fail_on_error: bool = True, confidence: float = 0.95,
                 n_resamples: int = 2000) -> None:
        self.baseline_model = baseline_model
        self.fail_on_error = fail_on_error
        self.confidence = confidence
        self.n_resamples = n_resamples

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.exists():
            return
        summary = summarize(sweep_dir, self.baseline_model, confidence=self.confidence, n_resamples=self.n_resamples)
        failed = [r["job"] for r in summary.failed]
        log.info("sweep summary: %s and report.html (%d jobs, %d failed, %d stopped)", sweep_dir / SUMMARY_MD,
                 len(summary.jobs), len(failed), len(summary.stopped))
        if failed and self.fail_on_error:
            # Every other job has finished and the summary is written; the exit status tells scripts.
            log.error("%d of %d jobs failed (job %s)", len(failed), len(summary.jobs), ", ".join(failed))
            sys.exit(1)


def main(argv: list[str] | None = None, prog: str = "colorization summary") -> int:
    """``colorization summary SWEEP_DIR [--baseline vanilla]``: rebuild the files (``report.html``
    too) and print the table (failed jobs named under it); exit status 0 once the files are written, 2 for a bad
    argument."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--baseline", default="vanilla", help="the model every other is compared with (same loss)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples per interval")
    p.add_argument("--quiet", action="store_true", help="write the files, print nothing")
    args = p.parse_args(argv)
    if not args.sweep_dir.is_dir():
        p.error(f"{args.sweep_dir} is not a directory (expected a sweep dir such as multirun/<date>/<time>-<pid>)")
    summarize(args.sweep_dir, args.baseline, not args.quiet, args.confidence, args.resamples)
    return 0

