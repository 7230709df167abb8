"""The sweep summary: one row per job of a multirun, with its change against the Vanilla baseline.

A Hydra callback writes ``summary.csv`` and ``summary.md`` into the sweep dir at the end of every multirun and
prints the table; ``python -m colorization.runs.sweep_summary SWEEP_DIR`` rebuilds them for any sweep dir.
Rows come from each job's ``job_status.json`` (see :mod:`colorization.runs.job`), so every launcher works.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from colorization.runs.job import STATUS_FILE

log = logging.getLogger(__name__)

# Test metrics in the table, with whether higher is better (for the sign of "better" in deltas).
METRICS = {"test/psnr": True, "test/ssim": True, "test/cf": True, "test/dcf": False, "test/auc": True}
GRAY = ("test/psnr_gray", "test/ssim_gray", "test/dcf_gray", "test/auc_gray")


def _job_dirs(sweep_dir: Path) -> list[Path]:
    dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and ((p / STATUS_FILE).exists() or (p / ".hydra").exists())]

    def key(p: Path) -> tuple[int, str]:
        return (int(p.name), p.name) if p.name.isdigit() else (1 << 30, p.name)

    return sorted(dirs, key=key)


def collect_rows(sweep_dir: Path, baseline_model: str = "vanilla") -> list[dict[str, Any]]:
    """One dict per job dir: job, overrides, status, error, metrics, gray floor, deltas vs baseline, ..."""
    rows = []
    for job_dir in _job_dirs(sweep_dir):
        status_path = job_dir / STATUS_FILE
        if status_path.exists():
            st = json.loads(status_path.read_text())
        else:
            st = {"status": "incomplete", "error": "no job_status.json (killed or still running?)"}
        metrics = st.get("metrics", {})
        row: dict[str, Any] = {
            "job": job_dir.name,
            "overrides": " ".join(st.get("overrides", [])),
            "model": st.get("model"),
            "loss": st.get("loss"),
            "status": st.get("status"),
            "error": st.get("error", ""),
            "world_size": st.get("world_size", ""),
            "num_nodes": st.get("num_nodes", ""),
        }
        for k in list(METRICS) + list(GRAY):
            row[k] = metrics.get(k)
        row["best_ckpt"] = st.get("best_ckpt", "")
        row["wall_time_s"] = st.get("wall_time_s")
        rows.append(row)

    # Change against the baseline job with the same loss (the first ok one, when the sweep has one).
    baselines: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if row["model"] == baseline_model and row["status"] == "ok":
            baselines.setdefault(row["loss"], row)
    for row in rows:
        base = baselines.get(row["loss"])
        for k in METRICS:
            ok = base is not None and row[k] is not None and base[k] is not None
            row[f"Δ{k.split('/')[1]}_vs_{baseline_model}"] = row[k] - base[k] if ok else None
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:+.4f}" if v < 0 else f"{v:.4f}"
    return str(v)


def write_summary(sweep_dir: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    """``summary.csv`` (every column) and ``summary.md`` (the readable ones) in ``sweep_dir``."""
    csv_path, md_path = sweep_dir / "summary.csv", sweep_dir / "summary.md"
    columns = list(rows[0]) if rows else ["job", "status"]
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    hidden = ("best_ckpt", "num_nodes")
    shown = [c for c in columns if c not in hidden and any(r.get(c) not in (None, "") for r in rows)]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)).replace("|", "\\|") for c in shown) + " |")
    md_path.write_text(f"# Sweep summary: {sweep_dir}\n\n" + "\n".join(lines) + "\n")
    return csv_path, md_path


def print_summary(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    shown = ["job", "model", "loss", "status", *METRICS, "test/psnr_gray"]
    shown += [c for c in (rows[0] if rows else {}) if c.startswith("Δ")] + ["wall_time_s"]
    table = Table(title=title)
    for c in shown:
        table.add_column(c.replace("test/", ""), overflow="fold")
    for r in rows:
        cells = [_fmt(r.get(c)) for c in shown]
        if r["status"] != "ok":
            cells[3] = f"[red]{r['status']}[/red] {escape(r.get('error', ''))}"
        table.add_row(*cells)
    Console(width=200).print(table)


def summarize(sweep_dir: str | Path, baseline_model: str = "vanilla", show: bool = True) -> list[dict[str, Any]]:
    sweep_dir = Path(sweep_dir)
    rows = collect_rows(sweep_dir, baseline_model)
    write_summary(sweep_dir, rows)
    if show:
        print_summary(rows, f"Sweep {sweep_dir}")
    return rows


class SweepSummaryCallback(Callback):
    """Hydra callback: at the end of a multirun, write and print the summary; exit non-zero if a job failed."""

    def __init__(self, baseline_model: str = "vanilla", fail_on_error: bool = True) -> None:
        self.baseline_model = baseline_model
        self.fail_on_error = fail_on_error

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.exists():
            return
        rows = summarize(sweep_dir, self.baseline_model)
        failed = [r["job"] for r in rows if r["status"] != "ok"]
        log.info("sweep summary: %s (%d jobs, %d failed)", sweep_dir / "summary.md", len(rows), len(failed))
        if failed and self.fail_on_error:
            # Every other job has finished and the summary is written; the exit status tells scripts.
            log.error("failed jobs: %s", ", ".join(failed))
            sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m colorization.runs.sweep_summary SWEEP_DIR")
    summarize(sys.argv[1])
