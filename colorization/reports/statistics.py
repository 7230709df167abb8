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
    values: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0, batch: int = 250
) -> Estimate:
    """Mean of ``values`` ``[n_seeds, n_images]`` (float, no NaN) and its percentile-bootstrap interval.

    Seeds (rows) and images (columns) are resampled independently with replacement; a dimension of length 1 is
    not resampled. With one image and one seed the interval is the point itself. ``confidence`` in (0, 1);
    ``batch`` resamples are evaluated at a time, which bounds memory at about ``batch * n_images`` floats.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"expected a finite [n_seeds, n_images] matrix, got shape {x.shape}")
    n_seeds, n_images = x.shape
    mean = float(x.mean())
    samples = [np.arange(n) for n in (n_seeds, n_images) if n > 1]
    if not samples:
        return Estimate(mean, mean, mean, n_seeds, n_images)

    def counts(idx: np.ndarray, n: int) -> np.ndarray:
        """Resampled indices ``[..., n]`` -> how often each index was drawn ``[..., n]``."""
        flat = idx.reshape(-1, n) + n * np.arange(idx.size // n)[:, None]
        return np.bincount(flat.ravel(), minlength=flat.size).reshape(idx.shape).astype(np.float64)

    def statistic(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        # The mean of the resampled table x[rows][:, cols] is (a @ x @ b) / (n_seeds * n_images), with a and b how
        # often each seed and image was drawn: no [resamples, seeds, images] array is built.
        lead = idx[0].shape[:-1]
        a = counts(idx[0], n_seeds) if n_seeds > 1 else np.ones(lead + (1,))
        b = counts(idx[-1], n_images) if n_images > 1 else np.ones(lead + (1,))
        return ((a @ x) * b).sum(axis=-1) / (n_seeds * n_images)

    res = stats.bootstrap(samples, statistic, n_resamples=n_resamples, batch=batch, vectorized=True, paired=False,
                          confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    # Rounding in the sums may put a bound a hair outside the data; an interval never leaves [min, max].
    return Estimate(mean, float(max(low, x.min())), float(min(high, x.max())), n_seeds, n_images)


def verdict(diff: Estimate, higher_is_better: bool = True) -> str:
    """``better`` / ``worse`` when the interval of (model - baseline) excludes 0, else ``no clear difference``."""
    if diff.ci_low > 0:
        return BETTER if higher_is_better else WORSE
    if diff.ci_high < 0:
        return WORSE if higher_is_better else BETTER
    return NO_CLEAR_DIFFERENCE
