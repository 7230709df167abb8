"""Numbers and tables as text: the one ``mean [low, high]`` formatter and the one markdown table writer, shared by
``summary.md``, the printed summary, ``report.html`` and the study report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from colorization.reports.metric_names import decimals_for

__all__ = ["as_number", "markdown_table", "plain", "with_ci"]


def as_number(value: Any) -> float | None:
    """A table value as a finite float: ``None`` for a missing one (``None``, ``""`` read from a CSV, NaN, inf,
    anything that is not a number)."""
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def with_ci(row: dict[str, Any], name: str, decimals: int | None = None, signed: bool = False, sep: str = " ",
            missing: str = "") -> str:
    """``row[name]`` as ``mean [low, high]`` from its ``<name>_ci_low`` / ``_ci_high`` columns (``sep`` before
    the interval; the mean alone without one; ``missing`` without a value). ``decimals``: the metric's
    (:func:`colorization.reports.metric_names.decimals_for`) unless given; ``signed``: ``+`` before positive
    numbers (a difference). Values may be numbers or their strings (``summary.csv`` read back)."""
    mean = as_number(row.get(name))
    if mean is None:
        return missing
    d = decimals_for(name) if decimals is None else decimals
    fmt = f"{{:{'+' if signed else ''}.{d}f}}"
    low, high = as_number(row.get(f"{name}_ci_low")), as_number(row.get(f"{name}_ci_high"))
    ci = f"{sep}[{fmt.format(low)}, {fmt.format(high)}]" if low is not None and high is not None else ""
    return fmt.format(mean) + ci


def plain(value: Any) -> str:
    """A job-table cell: ``""`` for ``None``, floats with 4 decimals, anything else as ``str``."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub markdown table as lines: the head, the rule, one line per row (``|`` in a cell escaped)."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(head), "|" + "---|" * len(head), *(line(cells) for cells in rows)]
