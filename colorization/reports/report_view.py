"""The view model of ``report.html``: tables, cells and curves as plain data, which the templates in
``templates/`` turn into HTML (:mod:`colorization.reports.templating`). Nothing here is HTML; every text is escaped
by the template."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SPARK_W, SPARK_H = 120, 28  # a job's validation curve in the job table (px)


@dataclass(frozen=True)
class Sparkline:
    """An inline SVG polyline: ``points`` ``"x,y x,y ..."`` in a ``width`` x ``height`` box; ``title`` its
    tooltip."""

    points: str
    title: str
    width: int = SPARK_W
    height: int = SPARK_H


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text`` (shown; ``ci`` on a second line under it), sorted by ``sort`` when given (the
    page's script reads ``data-sort``), ``title`` a tooltip, ``css`` its class; ``href`` makes the text a link,
    ``badge`` (a css class) a badge, ``curve`` replaces the text by a sparkline; ``verdict`` a badge on a line of
    its own at the bottom."""

    text: str = ""
    sort: str | None = None
    title: str | None = None
    css: str | None = None
    ci: str | None = None
    href: str | None = None
    badge: str | None = None
    curve: Sparkline | None = None
    verdict: str | None = None


@dataclass(frozen=True)
class Row:
    """A table row: its ``css`` class and ``data`` attributes (``{"job": "3"}`` -> ``data-job="3"``)."""

    cells: list[Cell]
    css: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A sortable table: ``head`` ``(label, "number" | "text")`` per column."""

    id: str
    head: list[tuple[str, str]]
    rows: list[Row]
    caption: str = ""


def sort_key(value: Any) -> str | None:
    """``data-sort`` of a value: ``repr`` of a float (``""`` when it is not finite: sorted last), ``str`` else."""
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def cell(text: Any, sort: Any = None, **extra: Any) -> Cell:
    """A cell showing ``text`` (``None`` -> empty), sorted by ``sort`` when given."""
    return Cell("" if text is None else str(text), sort_key(sort), **extra)


def sparkline(values: Sequence[float], label: str = "val PSNR by epoch") -> Sparkline:
    """``values`` (one point per epoch) scaled to their own min..max; their list in the title."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (SPARK_W - 4) / max(1, len(values) - 1)
    points = " ".join(f"{2 + i * step:.1f},{SPARK_H - 2 - (v - low) / span * (SPARK_H - 4):.1f}"
                      for i, v in enumerate(values))
    return Sparkline(points, f"{label}: " + ", ".join(f"{v:.2f}" for v in values))
