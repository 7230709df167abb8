"""``python -m colorization.sweep_summary SWEEP_DIR``: rebuild a sweep's ``summary.csv``, ``jobs.csv`` and
``summary.md`` and print the table. The code lives in :mod:`colorization.runs.sweep_summary`; this is its short
command name."""

from __future__ import annotations

from colorization.runs.sweep_summary import SweepSummary, SweepSummaryCallback, main, summarize

__all__ = ["SweepSummary", "SweepSummaryCallback", "main", "summarize"]

if __name__ == "__main__":
    raise SystemExit(main())
