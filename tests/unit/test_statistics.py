"""Bootstrap intervals over seeds and images, checked against what can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from colorization.reports.statistics import BETTER, NO_CLEAR_DIFFERENCE, WORSE, Estimate, bootstrap_mean, verdict


def test_two_by_two_table_matches_the_enumerated_bootstrap():
    # Resampling 2 seeds x 2 images gives 16 equally likely tables; the smallest mean (0: seed 0 twice, image 0
    # twice) and the largest (3) each have probability 1/16 > 2.5%, so the 95% percentile interval is [0, 3].
    est = bootstrap_mean(np.array([[0.0, 1.0], [2.0, 3.0]]))
    assert est == Estimate(mean=1.5, ci_low=0.0, ci_high=3.0, n_seeds=2, n_images=2)


def test_one_seed_two_images_gives_the_range():
    # One seed is not resampled; two images resample to means a, (a+b)/2, b with 1/4, 1/2, 1/4.
    est = bootstrap_mean(np.array([[10.0, 14.0]]))
    assert (est.mean, est.ci_low, est.ci_high, est.n_seeds, est.n_images) == (12.0, 10.0, 14.0, 1, 2)


def test_many_images_agree_with_the_normal_approximation():
    x = np.random.default_rng(3).normal(2.0, 1.5, size=(1, 900))
    est = bootstrap_mean(x)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)  # the textbook interval of a mean
    assert est.mean == pytest.approx(x.mean())
    assert est.ci_low == pytest.approx(x.mean() - half, abs=0.2 * half)
    assert est.ci_high == pytest.approx(x.mean() + half, abs=0.2 * half)


def test_same_input_same_interval_and_degenerate_cases():
    x = np.random.default_rng(0).normal(size=(3, 40))
    assert bootstrap_mean(x) == bootstrap_mean(x)  # fixed RNG: a summary rebuilds to the same numbers
    assert bootstrap_mean(np.full((3, 7), 0.25)) == Estimate(0.25, 0.25, 0.25, 3, 7)
    assert bootstrap_mean(np.array([[5.0]])) == Estimate(5.0, 5.0, 5.0, 1, 1)
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean(np.array([[1.0, np.nan]]))


def test_verdict_follows_the_interval_and_the_metric_direction():
    assert verdict(Estimate(0.3, 0.1, 0.5, 3, 10)) == BETTER
    assert verdict(Estimate(-0.3, -0.5, -0.1, 3, 10)) == WORSE
    assert verdict(Estimate(0.1, -0.1, 0.3, 3, 10)) == NO_CLEAR_DIFFERENCE
    assert verdict(Estimate(0.3, 0.1, 0.5, 3, 10), higher_is_better=False) == WORSE  # e.g. a colourfulness gap
