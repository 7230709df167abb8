"""The sweep summary: one row per (model, loss) configuration with 95% intervals and a verdict against the
baseline, and one row per job (how a failed job is reported).

A Hydra callback writes into the sweep dir at the end of every multirun, and prints the group table:

* ``summary.csv``: one row per group of jobs that differ only in their seed (:mod:`colorization.reports.sweep_groups`):
  ``n_seeds``, ``n_images``, per metric the mean and ``<metric>_ci_low`` / ``_ci_high``, the gray floor, the paired
  difference against the baseline with its interval, and ``verdict`` (PSNR), ``verdict_ssim``, ``verdict_auc``;
* ``jobs.csv``: one row per job (:func:`colorization.reports.sweep_table.collect_rows`);
* ``summary.md``: the conclusion (:mod:`colorization.reports.conclusion`), then both tables, the group table first;
* ``report.html``: the tables, charts and test pictures as one offline page (:mod:`colorization.reports.report_html`).

``colorization summary SWEEP_DIR`` rebuilds them for any sweep dir. Everything comes from each
job's ``job_status.json``, ``metrics.json`` values and ``test_images.csv``, so every launcher works.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from colorization.io.atomic import atomic_write
from colorization.reports.conclusion import Conclusion, conclude
from colorization.reports.labels import encoder_start
from colorization.reports.metric_names import IMAGE_METRICS, METRICS, VERDICT_METRICS
from colorization.reports.sweep_groups import DIVERGED, STOPPED, VERDICT_COLUMNS, failed, group_columns, group_rows
from colorization.reports.sweep_table import collect_rows
from colorization.reports.text_format import markdown_table, plain, with_ci

__all__ = ["SweepSummary", "SweepSummaryCallback", "collect_rows", "main", "summarize", "write_report",
           "write_summary"]

log = logging.getLogger(__name__)

SUMMARY_CSV, JOBS_CSV, SUMMARY_MD = "summary.csv", "jobs.csv", "summary.md"
# Fewer test images than this earn the conclusion a caution (conf/hydra/default.yaml sets the sweep's).
FEW_IMAGES = 100


@dataclass
class SweepSummary:
    """``groups``: one dict per configuration (``summary.csv``); ``jobs``: one dict per job (``jobs.csv``);
    ``conclusion``: what the sweep found, in sentences."""

    groups: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    baseline_model: str = "vanilla"
    confidence: float = 0.95
    conclusion: Conclusion = field(default_factory=Conclusion)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Jobs that ran and failed (not those whose loss diverged, nor those a signal stopped or kept from
        starting: see ``diverged`` and ``stopped``)."""
        return [r for r in self.jobs if failed(r["status"])]

    @property
    def diverged(self) -> list[dict[str, Any]]:
        """Jobs whose loss became NaN or infinite."""
        return [r for r in self.jobs if r["status"] == DIVERGED]

    @property
    def stopped(self) -> list[dict[str, Any]]:
        """Jobs a SIGTERM / Ctrl-C stopped (``terminated``) or kept from starting (``not_run``)."""
        return [r for r in self.jobs if r["status"] in STOPPED]

    @property
    def not_ok(self) -> list[dict[str, Any]]:
        return [r for r in self.jobs if r["status"] != "ok"]


@dataclass(frozen=True)
class GroupColumn:
    """A column of the group table as a person reads it: ``header``; ``cell(row, sep)`` its text; ``rank``: the
    printed table drops columns of the highest rank first when the terminal is narrow (0: always shown)."""

    header: str
    name: str
    rank: int
    signed: bool = False


def group_view_columns(summary: SweepSummary) -> list[GroupColumn]:
    """The group table's columns (``summary.md`` shows all; the printed table as many as fit)."""
    base = summary.baseline_model
    several = len({g["loss"] for g in summary.groups}) > 1
    cols = [GroupColumn("model", "model", 0), GroupColumn("loss", "loss", 1 if several else 5),
            GroupColumn("encoder", "encoder_weights", 2), GroupColumn("seeds", "n_seeds", 2),
            GroupColumn("images", "n_images", 4)]
    cols += [GroupColumn(METRICS[m].header, m, 0 if m == "psnr" else 3 if m in VERDICT_METRICS else 6)
             for m in IMAGE_METRICS]
    cols += [GroupColumn(METRICS["dcf"].header, "dcf", 6), GroupColumn("gray PSNR", "psnr_gray", 6)]
    cols += [GroupColumn(f"Δ{METRICS[m].label} vs {base}", f"Δ{m}_vs_{base}", 1 if m == "psnr" else 5, True)
             for m in IMAGE_METRICS]
    cols += [GroupColumn(f"verdict {METRICS[m].label}", v, 1 if m == "psnr" else 5) for m, v in VERDICT_COLUMNS.items()]
    # A count that is 0 everywhere goes first when room is short.
    cols += [GroupColumn(word, f"n_{word}", 2 if any(g.get(f"n_{word}") for g in summary.groups) else 7)
             for word in ("failed", "diverged", "stopped")]
    return cols


def _cell(row: dict[str, Any], col: GroupColumn, sep: str) -> str:
    if col.name == "encoder_weights":
        return encoder_start(row.get(col.name))
    if col.name in METRICS or col.name.startswith("Δ") or col.name.endswith("_gray") or col.name == "dcf":
        return with_ci(row, col.name, signed=col.signed, sep=sep)
    return plain(row.get(col.name))


def group_view(summary: SweepSummary, columns: list[GroupColumn], sep: str = " ") -> list[list[str]]:
    """The group rows as the cells of ``columns`` (``mean [low, high]``, ``sep`` before the interval)."""
    return [[_cell(r, c, sep) for c in columns] for r in summary.groups]


def caption(summary: SweepSummary) -> str:
    return (f"mean [{summary.confidence:.0%} CI] over seeds x test images; Δ: paired difference against "
            f"{summary.baseline_model} with the same loss (same seeds, same images); verdict: better / worse when "
            "the interval of the difference excludes 0")


def _csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def summary_markdown(sweep_dir: Path, summary: SweepSummary) -> str:
    """``summary.md``: the conclusion, the group table (every column, ``mean [low, high]``), the jobs' readable
    columns."""
    columns = group_view_columns(summary)
    job_columns = list(summary.jobs[0]) if summary.jobs else ["job", "status"]
    hidden = ("best_ckpt", "num_nodes", "test_images", "group", "started_at")
    shown = [c for c in job_columns if c not in hidden and any(r.get(c) not in (None, "") for r in summary.jobs)]
    md = [f"# Sweep summary: {sweep_dir}", "", "## Conclusion", "",
          *(f"- {line}" for line in summary.conclusion.lines()), "",
          "## Models", "", caption(summary), "",
          *markdown_table([c.header for c in columns], group_view(summary, columns)), "",
          "## Jobs", "", *markdown_table(shown, [[plain(r.get(c)) for c in shown] for r in summary.jobs])]
    return "\n".join(md) + "\n"


def write_summary(sweep_dir: Path, summary: SweepSummary) -> tuple[Path, Path, Path]:
    """``summary.csv`` (groups, every column), ``jobs.csv`` (jobs, every column) and ``summary.md`` (the conclusion,
    the groups as ``mean [low, high]``, then the jobs' readable columns) in ``sweep_dir``, each written whole."""
    job_columns = list(summary.jobs[0]) if summary.jobs else ["job", "status"]
    return (atomic_write(sweep_dir / SUMMARY_CSV, _csv_text(group_columns(summary.baseline_model), summary.groups)),
            atomic_write(sweep_dir / JOBS_CSV, _csv_text(job_columns, summary.jobs)),
            atomic_write(sweep_dir / SUMMARY_MD, summary_markdown(sweep_dir, summary)))


# A name cell (model, loss, encoder, verdict) may fold a long word at this many characters.
NAME_FOLD = 16


def _is_name(col: GroupColumn) -> bool:
    return col.name in ("model", "loss", "encoder_weights") or col.name.startswith("verdict")


def _needed_width(col: GroupColumn, cells: list[str]) -> int:
    """The narrowest a printed column can be: a number's every line whole (mean, then its interval), a name's
    longest word (folded past ``NAME_FOLD``), the header's longest word; plus the padding."""
    words = [w for text in (col.header, *(cells if _is_name(col) else ())) for w in text.split()]
    lines = [] if _is_name(col) else [line for text in cells for line in text.split("\n")]
    width = max([min(len(w), NAME_FOLD) if _is_name(col) else len(w) for w in words] + [len(x) for x in lines])
    return width + 2


def fitting_columns(summary: SweepSummary, width: int) -> list[tuple[GroupColumn, int]]:
    """The group columns that fit ``width`` terminal columns, each with its narrowest width: the highest-ranked
    dropped first, the rightmost of a rank first (model, PSNR and its difference and verdict always stay; rich
    wraps what is left)."""
    columns = group_view_columns(summary)
    cells = group_view(summary, columns, sep="\n")
    needed = {c.name: _needed_width(c, [row[k] for row in cells]) for k, c in enumerate(columns)}
    # Each column's cells with their padding, and one separator at each column boundary and edge (box.SIMPLE_HEAD).
    while sum(needed[c.name] + 1 for c in columns) + 1 > width and max(c.rank for c in columns) > 0:
        worst = max(c.rank for c in columns)
        drop = next(c for c in reversed(columns) if c.rank == worst)
        columns = [c for c in columns if c is not drop]
    return [(c, needed[c.name]) for c in columns]


def _rich_table(summary: SweepSummary, columns: list[tuple[GroupColumn, int]]) -> Any:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1))
    for c, needed in columns:
        # A number keeps its lines whole (mean over interval); names and verdicts wrap, folding only long words.
        table.add_column(c.header, overflow="fold", no_wrap=not _is_name(c), min_width=needed - 2)
    for cells in group_view(summary, [c for c, _ in columns], sep="\n"):
        table.add_row(*(escape(c) for c in cells))
    return table


def print_summary(summary: SweepSummary, title: str) -> None:
    """The conclusion, the group table (as many columns as the terminal has room for: ``COLUMNS`` or the
    terminal's width), then one line per job that did not finish ok, with its error."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=False)
    columns = fitting_columns(summary, console.width)
    console.print(f"[bold]{escape(title)}[/bold]")
    console.print("[bold]Conclusion[/bold]")
    for line in summary.conclusion.lines():
        console.print(f"- {escape(line)}")
    console.print(_rich_table(summary, columns))
    left_out = len(group_view_columns(summary)) - len(columns)
    console.print(escape(caption(summary) + (f"; {left_out} more columns in summary.md" if left_out else
                                             "; every column: summary.md")))
    colours = {"diverged": "yellow"}
    for r in summary.not_ok:
        colour = colours.get(r["status"], "red")
        console.print(f"[{colour}]job {escape(r['job'])} {escape(str(r['status']))}[/{colour}] "
                      f"({escape(r['overrides'])}): {escape(str(r.get('error', '')))}")


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
              n_resamples: int = 2000, report: bool = True, few_images: int = FEW_IMAGES) -> SweepSummary:
    """Read the sweep dir, compute the group statistics and the conclusion, write the three files and
    (``report``) ``report.html``, print the conclusion and the table when ``show``."""
    sweep_dir = Path(sweep_dir)
    jobs = collect_rows(sweep_dir, baseline_model)
    groups = group_rows(jobs, baseline_model, confidence, n_resamples)
    summary = SweepSummary(groups, jobs, baseline_model, confidence,
                           conclude(jobs, groups, confidence, n_resamples, few_images))
    write_summary(sweep_dir, summary)
    if report:
        write_report(sweep_dir, summary)
    if show:
        print_summary(summary, f"Sweep {sweep_dir}")
    return summary


class SweepSummaryCallback(Callback):
    """Hydra callback: at the end of a multirun, write the summary and ``report.html`` and print the table; exit
    non-zero if a job failed or diverged."""

    def __init__(self, baseline_model: str = "vanilla", fail_on_error: bool = True, confidence: float = 0.95,
                 n_resamples: int = 2000, few_images: int = FEW_IMAGES) -> None:
        self.baseline_model = baseline_model
        self.fail_on_error = fail_on_error
        self.confidence = confidence
        self.n_resamples = n_resamples
        self.few_images = few_images

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.exists():
            return
        summary = summarize(sweep_dir, self.baseline_model, confidence=self.confidence, n_resamples=self.n_resamples,
                            few_images=self.few_images)
        failed, diverged = [r["job"] for r in summary.failed], [r["job"] for r in summary.diverged]
        log.info("sweep summary: %s and report.html (%d jobs, %d failed, %d diverged, %d stopped)",
                 sweep_dir / SUMMARY_MD, len(summary.jobs), len(failed), len(diverged), len(summary.stopped))
        if (failed or diverged) and self.fail_on_error:
            # Every other job has finished and the summary is written; the exit status tells scripts.
            for word, jobs in (("failed", failed), ("diverged", diverged)):
                if jobs:
                    log.error("%d of %d jobs %s (job %s)", len(jobs), len(summary.jobs), word, ", ".join(jobs))
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
    p.add_argument("--few-images", type=int, default=FEW_IMAGES,
                   help=f"fewer test images than this earn the conclusion a caution (default {FEW_IMAGES})")
    p.add_argument("--quiet", action="store_true", help="write the files, print nothing")
    args = p.parse_args(argv)
    if not args.sweep_dir.is_dir():
        p.error(f"{args.sweep_dir} is not a directory (expected a sweep dir such as multirun/<date>/<time>-<pid>)")
    summarize(args.sweep_dir, args.baseline, not args.quiet, args.confidence, args.resamples,
              few_images=args.few_images)
    return 0

