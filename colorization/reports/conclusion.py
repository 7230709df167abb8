"""What a sweep found, in sentences: per metric the best configuration ("arm"), every other arm's paired difference
from it with its interval and verdict, and the cautions that say when the evidence is thin.

The same sentences open ``summary.md``, the printed summary and ``report.html``. A difference is paired: the two
arms' values on the same test images and seeds, subtracted image by image, so the noise they share cancels
(:func:`colorization.reports.sweep_groups.paired_difference`); its interval is a bootstrap over seeds x images. An
arm is *clearly worse* than the best when the whole interval of its difference lies on the worse side of 0;
otherwise the data cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from colorization.reports.labels import group_label, several_losses
from colorization.reports.metric_names import METRICS, VERDICT_METRICS, Metric
from colorization.reports.statistics import BETTER, NO_CLEAR_DIFFERENCE, WORSE, verdict
from colorization.reports.sweep_groups import DIVERGED, STOPPED, failed, group_jobs, paired_difference
from colorization.reports.text_format import as_number

__all__ = ["Comparison", "Conclusion", "Finding", "conclude"]

# An arm against the best one, in words (statistics.verdict's word -> the conclusion's). "better" can only happen
# when the two share a subset of seeds or images on which the other arm leads.
SAID = {WORSE: "clearly worse", NO_CLEAR_DIFFERENCE: NO_CLEAR_DIFFERENCE,
        BETTER: "better on the seeds and images both have"}


@dataclass(frozen=True)
class Comparison:
    """Arm ``label`` minus the best arm on one metric: ``diff`` (``low``, ``high`` its interval; ``None`` without
    paired per-image values) and ``verdict`` (``clearly worse`` / ``no clear difference`` / ``""`` without an
    interval)."""

    label: str
    diff: float
    low: float | None
    high: float | None
    verdict: str


@dataclass(frozen=True)
class Finding:
    """The best arm on ``metric`` (``value`` with its interval ``low``..``high`` when there is one) and every other
    arm compared with it."""

    metric: Metric
    best: str
    value: float
    low: float | None
    high: float | None
    others: list[Comparison]

    def sentence(self) -> str:
        """``"PSNR ↑: best unet · ImageNet, 24.31 dB [23.95, 24.66]; vanilla · no encoder 2.10 dB lower [..],
        clearly worse."``"""
        m = self.metric
        unit = f" {m.unit}" if m.unit else ""
        interval = "" if self.low is None or self.high is None else f" [{m.format(self.low)}, {m.format(self.high)}]"
        text = f"{m.header}: best {self.best}, {m.format(self.value)}{unit}{interval}"
        parts = []
        for c in self.others:
            if m.format(abs(c.diff)) == m.format(0):
                by = "the same"
            else:
                by = f"{m.format(abs(c.diff))}{unit} {'lower' if c.diff < 0 else 'higher'}"
            interval = "" if c.low is None else f" [{m.format(c.low, True)}, {m.format(c.high, True)}]"
            how = f", {c.verdict}" if c.verdict else " (no paired values: no interval)"
            parts.append(f"{c.label} {by}{interval}{how}")
        return text + ("; " + "; ".join(parts) if parts else "") + "."


@dataclass
class Conclusion:
    """``findings`` (one per metric with a better side that some arm has) and ``cautions`` (sentences)."""

    findings: list[Finding] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)
    confidence: float = 0.95

    @property
    def sentences(self) -> list[str]:
        """One sentence per finding (a sentence saying there is nothing to compare without any)."""
        found = [f.sentence() for f in self.findings]
        return found or ["No configuration finished with test metrics: nothing to compare."]

    @property
    def how(self) -> str:
        """How to read the findings."""
        if self.findings and all(not f.others for f in self.findings):
            return "One configuration: nothing to compare it with."
        return (f"Differences are paired (same seeds, same test images) with {self.confidence:.0%} intervals; "
                "clearly worse: the whole interval is on the worse side of 0.")

    def lines(self) -> list[str]:
        """Every sentence: the findings, how to read them, the cautions (plain text; summary.md and the printed
        summary list them, report.html too)."""
        return [*self.sentences, self.how, *(f"Caution: {c}" for c in self.cautions)]


def _labels(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each arm's name: model · encoder start (· loss when the sweep has several), its overrides when two arms
    would read the same."""
    labels = [group_label(r, several_losses(rows), sep=" · ") for r in rows]
    return [f"{label} ({r['overrides']})" if labels.count(label) > 1 else label for label, r in zip(labels, rows,
                                                                                                  strict=True)]


def _better(m: Metric, a: float, b: float) -> bool:
    return a > b if m.higher_is_better else a < b


def _val_means(rows: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]]) -> list[float | None]:
    """Each arm's best validation PSNR, averaged over its finished jobs (``None`` without one)."""
    by_job = {r["job"]: r for r in jobs}
    out = []
    for row in rows:
        values = [v for j in str(row.get("jobs") or "").split()
                  if by_job.get(j, {}).get("status") == "ok" and (v := as_number(by_job[j].get("val/psnr_best")))
                  is not None]
        out.append(float(np.mean(values)) if values else None)
    return out


def _cautions(rows: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]], labels: Sequence[str],
              few_images: int) -> list[str]:
    out = []
    finished = [r for r in rows if int(r.get("n_seeds") or 0)]
    if finished and max(int(r["n_seeds"]) for r in finished) == 1:
        out.append("one seed per configuration: the intervals cover the choice of test images, not how training "
                   "happened to go; another seed may rank them otherwise (run 3 or more: seed=1,2,3).")
    images = [int(n) for r in finished if (n := as_number(r.get("n_images"))) is not None]
    if images and min(images) < few_images:
        out.append(f"only {min(images)} test images (fewer than {few_images}): intervals are wide and small "
                   "differences go unseen.")
    if finished and not images:
        out.append("no per-image results (test_images.csv): means only, no intervals, no verdicts.")
    val, test = _val_means(rows, jobs), [as_number(r.get("psnr")) for r in rows]
    both = [k for k in range(len(rows)) if val[k] is not None and test[k] is not None]
    if len(both) > 1:
        best_val = max(both, key=lambda k: val[k])
        best_test = max(both, key=lambda k: test[k])
        if best_val != best_test:
            out.append(f"validation and test disagree on the best PSNR: {labels[best_val]} on validation, "
                       f"{labels[best_test]} on test; the difference may be noise.")
    n_failed = sum(failed(j["status"]) for j in jobs)
    n_diverged = sum(j["status"] == DIVERGED for j in jobs)
    n_stopped = sum(j["status"] in STOPPED for j in jobs)
    if n_failed or n_diverged or n_stopped:
        what = ", ".join(f"{n} {word}" for n, word in ((n_failed, "failed"), (n_diverged, "diverged"),
                                                       (n_stopped, "stopped")) if n)
        out.append(f"{n_failed + n_diverged + n_stopped} of {len(jobs)} jobs did not finish ({what}): their "
                   "configurations rest on fewer seeds.")
    return out


def conclude(jobs: list[dict[str, Any]], rows: list[dict[str, Any]], confidence: float = 0.95,
             n_resamples: int = 2000, few_images: int = 100) -> Conclusion:
    """The conclusion of a sweep from its job rows (``jobs.csv``) and group rows (``summary.csv``, same order as
    :func:`colorization.reports.sweep_groups.group_jobs` makes them); ``few_images``: fewer test images than this
    earn a caution."""
    groups = group_jobs(jobs)
    labels = _labels(rows)
    findings = []
    for name in VERDICT_METRICS:
        m = METRICS[name]
        arms = [k for k, r in enumerate(rows) if as_number(r.get(name)) is not None]
        if not arms:
            continue
        best = arms[0]
        for k in arms[1:]:
            if _better(m, as_number(rows[k][name]), as_number(rows[best][name])):
                best = k
        others = []
        for k in arms:
            if k == best:
                continue
            diff = paired_difference(groups[k], groups[best], name, confidence, n_resamples)
            if diff is None:
                plain = as_number(rows[k][name]) - as_number(rows[best][name])
                others.append(Comparison(labels[k], plain, None, None, ""))
                continue
            said = SAID[verdict(diff, bool(m.higher_is_better))]
            others.append(Comparison(labels[k], diff.mean, diff.ci_low, diff.ci_high, said))
        row = rows[best]
        findings.append(Finding(m, labels[best], as_number(row[name]), as_number(row.get(f"{name}_ci_low")),
                                as_number(row.get(f"{name}_ci_high")), others))
    return Conclusion(findings, _cautions(rows, jobs, labels, few_images), confidence)
