"""The one table of the test metrics a person reads: name, which way is better, decimals, unit.

Every view of a sweep (``summary.md``, the printed table, ``report.html``, the study report and its plots, the
job table) takes its headers, arrows, decimals and the sign of "better" from :data:`METRICS`; the CSV files keep
every digit.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IMAGE_METRICS", "METRICS", "VERDICT_METRICS", "Metric", "decimals_for", "metric"]


@dataclass(frozen=True)
class Metric:
    """One metric: ``key`` as in ``summary.csv`` (``psnr``) and ``metrics.json`` (``test/psnr``); ``label`` as a
    person reads it; ``higher_is_better`` (``None``: no better side, so no verdict: colourfulness); ``decimals``
    shown; ``unit`` after a value (``"dB"`` or ``""``)."""

    key: str
    label: str
    higher_is_better: bool | None
    decimals: int
    unit: str = ""

    @property
    def arrow(self) -> str:
        """``↑`` (higher is better), ``↓`` (lower is better) or ``""``."""
        return {True: "↑", False: "↓", None: ""}[self.higher_is_better]

    @property
    def header(self) -> str:
        """``"PSNR ↑"``: the label with its arrow."""
        return f"{self.label} {self.arrow}".strip()

    def format(self, value: float, signed: bool = False) -> str:
        """``value`` with this metric's decimals (``+`` before a positive one when ``signed``)."""
        return f"{value:{'+' if signed else ''}.{self.decimals}f}"


METRICS: dict[str, Metric] = {
    "psnr": Metric("psnr", "PSNR", True, 2, "dB"),
    "ssim": Metric("ssim", "SSIM", True, 4),
    "auc": Metric("auc", "AuC", True, 4),
    "cf": Metric("cf", "CF", None, 2),  # colourfulness: more is not better; its gap to the truth (dCF) is
    "dcf": Metric("dcf", "dCF", False, 2),
}
# Per-image metrics (test_images.csv): a group gets each one's interval over seeds x images.
IMAGE_METRICS = ("psnr", "ssim", "auc", "cf")
# The image metrics with a better side: each gets a verdict against the baseline.
VERDICT_METRICS = tuple(m for m in IMAGE_METRICS if METRICS[m].higher_is_better is not None)


def metric(name: str) -> Metric:
    """The metric behind a column name: ``psnr``, ``test/psnr``, ``psnr_gray``, ``Δpsnr_vs_vanilla`` -> PSNR's.
    Raises ``KeyError`` for a name that is none of them."""
    key = name.split("/")[-1].removeprefix("Δ").split("_vs_")[0].removesuffix("_gray")
    return METRICS[key]


def decimals_for(name: str, default: int = 4) -> int:
    """The decimals of column ``name`` (see :func:`metric`); ``default`` for a column that is no metric."""
    try:
        return metric(name).decimals
    except KeyError:
        return default
