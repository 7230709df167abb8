"""Confidence intervals over seeds and test images, and a verdict against the baseline.

A (model, loss) run with seeds ``s`` tested on images ``i`` gives a matrix ``X[s, i]`` of one per-image metric.
Its estimate is the mean of ``X``; its 95% interval comes from a percentile bootstrap that resamples seeds and
images independently (:func:`scipy.stats.bootstrap` with the two index sets as two samples), so the interval
covers both sources of noise: which photos were tested and how training happened to go. Against the baseline
the same is done on the paired differences ``X_model[s, i] - X_base[s, i]`` (the same images, the same seeds).
One seed still gets an interval over images. The RNG is fixed, so a summary is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["BETTER", "NO_CLEAR_DIFFERENCE", "WORSE", "Estimate", "bootstrap_mean", "verdict"]

BETTER, WORSE, NO_CLEAR_DIFFERENCE = "better", "worse", "no clear difference"


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval, and what it was computed from."""

    mean: float
    ci_low: float
    ci_high: float
    n_seeds: int
    n_images: int


def bootstrap_mean(
    values: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Estimate:
    """Mean of ``values`` ``[n_seeds, n_images]`` (float, no NaN) and its percentile-bootstrap interval.

    Seeds (rows) and images (columns) are resampled independently with replacement; a dimension of length 1 is
    not resampled. With one image and one seed the interval is the point itself.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"expected a finite [n_seeds, n_images] matrix, got shape {x.shape}")
    n_seeds, n_images = x.shape
    mean = float(x.mean())
    samples = [np.arange(n) for n in (n_seeds, n_images) if n > 1]
    if not samples:
        return Estimate(mean, mean, mean, n_seeds, n_images)

    def statistic(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = idx[0] if n_seeds > 1 else np.zeros(idx[0].shape[:-1] + (1,), dtype=int)
        cols = idx[-1] if n_images > 1 else np.zeros(idx[-1].shape[:-1] + (1,), dtype=int)
        return x[rows[..., :, None], cols[..., None, :]].mean(axis=(-2, -1))

    res = stats.bootstrap(samples, statistic, n_resamples=n_resamples, vectorized=True, paired=False,
                          confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return Estimate(mean, float(low), float(high), n_seeds, n_images)


def verdict(diff: Estimate, higher_is_better: bool = True) -> str:
    """``better`` / ``worse`` when the interval of (model - baseline) excludes 0, else ``no clear difference``."""
    if diff.ci_low > 0:
        return BETTER if higher_is_better else WORSE
    if diff.ci_high < 0:
        return WORSE if higher_is_better else BETTER
    return NO_CLEAR_DIFFERENCE
