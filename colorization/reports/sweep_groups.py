"""One summary row per configuration of a sweep: its jobs that differ only in their seed, taken together.

For each metric a group gets the mean over seeds x test images and its interval
(:func:`colorization.reports.statistics.bootstrap_mean` on the ``[n_seeds, n_images]`` table of per-image values);
against the baseline (the group of model ``baseline_model`` with the same loss) the paired difference
``X_model[s, i] - X_base[s, i]`` over the seeds and image ids both have, its interval and a verdict. A group whose
jobs wrote no ``test_images.csv`` (sweeps from before it, or no test) gets plain means of ``metrics.json`` over
seeds and empty interval columns; failed jobs only count in ``n_failed``, diverged ones (the loss became NaN or
infinite) in ``n_diverged``. Jobs a signal stopped (``terminated``) or
kept from starting (``not_run``) are no failure of their configuration: they count in ``n_stopped``, and a group
with none finished still gets its row (``n_seeds`` 0, empty means).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from colorization.reports.metric_names import IMAGE_METRICS, METRICS, VERDICT_METRICS
from colorization.reports.statistics import Estimate, bootstrap_mean, verdict
from colorization.reports.sweep_table import ImageMetrics, parse_overrides, read_image_metrics

log = logging.getLogger(__name__)

# The summary.csv column of each metric's verdict against the baseline.
VERDICT_COLUMNS = {m: "verdict" if m == "psnr" else f"verdict_{m}" for m in VERDICT_METRICS}
GRAY_MEANS = tuple(f"{m}_gray" for m in IMAGE_METRICS)
SEED_MEANS = ("dcf", "dcf_gray")  # dataset-level gaps (metrics.json): a plain mean over seeds, no interval
BASELINE = "baseline"  # the verdict of the baseline group itself
# Statuses of jobs that a SIGTERM/SIGINT ended or kept from starting (colorization.runs.sweep_stop).
STOPPED = ("terminated", "not_run")
# A job whose loss became NaN or infinite: counted apart from the failures (its settings, not the code, broke).
DIVERGED = "diverged"


def failed(status: str) -> bool:
    """A job that ran and did not finish for another reason than a signal or a diverging loss."""
    return status not in ("ok", DIVERGED, *STOPPED)


def group_columns(baseline_model: str = "vanilla") -> list[str]:
    """The columns of a group row (``summary.csv``), in order."""
    cols = ["model", "loss", "encoder_weights", "overrides", "n_seeds", "seeds", "n_images", "n_failed", "n_diverged",
            "n_stopped"]
    for m in IMAGE_METRICS:
        cols += [m, f"{m}_ci_low", f"{m}_ci_high"]
    cols += [*SEED_MEANS, *GRAY_MEANS, "baseline", "paired_seeds", "paired_images"]
    for m in IMAGE_METRICS:
        d = f"Δ{m}_vs_{baseline_model}"
        cols += [d, f"{d}_ci_low", f"{d}_ci_high"]
    return [*cols, *VERDICT_COLUMNS.values(), "jobs"]


@dataclass
class Group:
    """The jobs of one configuration (job rows of :func:`colorization.reports.sweep_table.collect_rows`)."""

    key: str
    jobs: list[dict[str, Any]]

    def __post_init__(self) -> None:
        ok = [r for r in self.jobs if r["status"] == "ok"]
        # One job per seed (the first); the per-image tables when any job has a readable one, else metrics.json.
        self.tables: dict[Any, ImageMetrics] = {}
        with_images = []
        for r in ok:
            if r.get("test_images") and r["seed"] not in self.tables:
                try:
                    self.tables[r["seed"]] = read_image_metrics(r["test_images"])
                    with_images.append(r)
                except (OSError, ValueError, IndexError) as e:  # one bad file must not cost the sweep its summary
                    log.warning("job %s: %s unreadable (%s); its seed counts without per-image values",
                                r["job"], r["test_images"], e)
        self.per_seed: dict[Any, dict[str, Any]] = {}
        for r in with_images or ok:
            self.per_seed.setdefault(r["seed"], r)
        label = (ok or self.jobs)[0]
        self.model, self.loss, self.encoder_weights = label["model"], label["loss"], label.get("encoder_weights")


def group_jobs(rows: list[dict[str, Any]]) -> list[Group]:
    """Jobs with the same overrides apart from ``seed=`` form a group (first-job order). A job without a status
    file joins the group of its overrides when there is one; otherwise it is only in the job table."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["model"] is not None or r["loss"] is not None:
            by_key.setdefault(r["group"], []).append(r)
    for r in rows:
        if r["model"] is None and r["loss"] is None and r["group"] in by_key:
            by_key[r["group"]].append(r)
    return [Group(key, jobs) for key, jobs in by_key.items()]


def _common_ids(tables: list[ImageMetrics]) -> list[str]:
    """Image ids every table has, in the first table's order (the order fixes the bootstrap's draws)."""
    shared = set(tables[0].ids).intersection(*(t.ids for t in tables[1:]))
    return [i for i in tables[0].ids if i in shared]


def _matrix(tables: list[ImageMetrics], key: str, ids: list[str]) -> np.ndarray:
    """``[n_seeds, n_images]`` float64 values of ``key``, columns in ``ids`` order."""
    cols = [t.by_id(key) for t in tables]
    return np.array([[c[i] for i in ids] for c in cols], dtype=np.float64).reshape(len(tables), len(ids))


def _estimate(x: np.ndarray, confidence: float, n_resamples: int) -> Estimate | None:
    x = x[:, np.isfinite(x).all(axis=0)]  # an image without a finite value in every seed cannot be paired
    return bootstrap_mean(x, confidence, n_resamples) if x.size else None


def _put(row: dict[str, Any], name: str, est: Estimate | None) -> None:
    row[name] = est.mean if est else None
    row[f"{name}_ci_low"] = est.ci_low if est else None
    row[f"{name}_ci_high"] = est.ci_high if est else None


def _mean(values: list[Any]) -> float | None:
    got = [float(v) for v in values if v is not None]
    return float(np.mean(got)) if got else None


def _stats(group: Group, columns: list[str], confidence: float, n_resamples: int) -> dict[str, Any]:
    """Means (with intervals when there are per-image tables) and the gray floor of one group."""
    seed_rows = list(group.per_seed.values())
    row: dict[str, Any] = dict.fromkeys(columns)
    row.update(model=group.model, loss=group.loss, encoder_weights=group.encoder_weights, overrides=group.key,
               n_seeds=len(seed_rows), seeds=" ".join(str(s) for s in group.per_seed),
               n_failed=sum(failed(r["status"]) for r in group.jobs),
               n_diverged=sum(r["status"] == DIVERGED for r in group.jobs),
               n_stopped=sum(r["status"] in STOPPED for r in group.jobs), jobs=" ".join(r["job"] for r in group.jobs))
    for key in SEED_MEANS:
        row[key] = _mean([r.get(f"test/{key}") for r in seed_rows])
    tables = list(group.tables.values())
    if tables:
        ids = _common_ids(tables)
        row["n_images"] = len(ids)
        for m in IMAGE_METRICS:
            _put(row, m, _estimate(_matrix(tables, m, ids), confidence, n_resamples))
        for g in GRAY_MEANS:
            row[g] = float(np.nanmean(_matrix(tables, g, ids))) if ids else None
    else:
        for m in (*IMAGE_METRICS, *GRAY_MEANS):
            row[m] = _mean([r.get(f"test/{m}") for r in seed_rows])
    return row


def _baseline_for(group: Group, groups: list[Group], baseline_model: str) -> Group | None:
    """The baseline group with the same loss and at least one finished seed: the one whose overrides match apart
    from ``model=`` when there is one, else the first."""
    candidates = [g for g in groups if g.model == baseline_model and g.loss == group.loss and g.per_seed]

    def rest(g: Group) -> list[str]:
        return [o for o in g.key.split() if "model" not in parse_overrides([o])]

    same = [g for g in candidates if rest(g) == rest(group)]
    return (same or candidates or [None])[0]


def paired_difference(group: Group, other: Group, metric: str, confidence: float = 0.95, n_resamples: int = 2000,
                      ) -> Estimate | None:
    """``metric`` of ``group`` minus ``other``'s, image by image and seed by seed over the seeds and image ids both
    have, with its interval; ``None`` when they share no per-image values."""
    seeds = [s for s in group.tables if s in other.tables]
    if not seeds:
        return None
    mine, theirs = [group.tables[s] for s in seeds], [other.tables[s] for s in seeds]
    ids = _common_ids(mine + theirs)
    return _estimate(_matrix(mine, metric, ids) - _matrix(theirs, metric, ids), confidence, n_resamples) if ids \
        else None


def _compare(row: dict[str, Any], group: Group, base: Group, baseline_model: str, confidence: float,
             n_resamples: int, base_row: dict[str, Any]) -> None:
    """Fill the ``Δ<metric>_vs_<baseline>`` columns and the verdicts of ``row`` against ``base``."""
    seeds = [s for s in group.tables if s in base.tables]
    if not seeds:  # no paired per-image values: the plain difference of the means, no interval, no verdict
        for m in IMAGE_METRICS:
            if row[m] is not None and base_row[m] is not None:
                row[f"Δ{m}_vs_{baseline_model}"] = row[m] - base_row[m]
        return
    row["paired_seeds"] = len(seeds)
    row["paired_images"] = len(_common_ids([group.tables[s] for s in seeds] + [base.tables[s] for s in seeds]))
    for m in IMAGE_METRICS:
        diff = paired_difference(group, base, m, confidence, n_resamples)
        _put(row, f"Δ{m}_vs_{baseline_model}", diff)
        if m in VERDICT_COLUMNS and diff is not None:
            row[VERDICT_COLUMNS[m]] = verdict(diff, bool(METRICS[m].higher_is_better))


def group_rows(jobs: list[dict[str, Any]], baseline_model: str = "vanilla", confidence: float = 0.95,
               n_resamples: int = 2000) -> list[dict[str, Any]]:
    """One dict per group, keys :func:`group_columns`; ``None`` where a value does not exist (no interval without
    per-image tables, no difference without a baseline). The baseline group's verdicts read ``baseline``."""
    groups = group_jobs(jobs)
    columns = group_columns(baseline_model)
    rows = [_stats(g, columns, confidence, n_resamples) for g in groups]
    for g, row in zip(groups, rows, strict=True):
        base = _baseline_for(g, groups, baseline_model)
        if base is g:
            row.update(dict.fromkeys(VERDICT_COLUMNS.values(), BASELINE), baseline=base.key)
        elif base is not None:
            row["baseline"] = base.key
            _compare(row, g, base, baseline_model, confidence, n_resamples, rows[groups.index(base)])
    return rows
