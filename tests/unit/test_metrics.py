"""Metrics: PSNR/SSIM on RGB, colourfulness, ab-error AuC, the gray baseline, and the DDP-safe aggregator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colorization.color import lab8_to_normalized, render_normalized, rgb_to_lab8
from colorization.metrics import METRIC_KEYS, ColorizationMetrics, ab_auc, colorfulness, image_metrics, ssim


@pytest.fixture(scope="module")
def crops_normalized(real_crops) -> tuple[torch.Tensor, torch.Tensor]:
    """(L [16,1,64,64], ab [16,2,64,64]) of the real-photo crops."""
    lab8 = rgb_to_lab8(torch.from_numpy(real_crops).permute(0, 3, 1, 2).contiguous())
    return lab8_to_normalized(lab8)


def _numpy_colorfulness(rgb01: np.ndarray) -> float:
    """Reference Hasler–Süsstrunk on one HxWx3 image, written the textbook way."""
    r, g, b = (rgb01[..., c].astype(np.float64) * 255 for c in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def test_colorfulness_matches_reference_and_is_zero_for_gray(real_crops):
    rgb = torch.from_numpy(real_crops[:4]).permute(0, 3, 1, 2).float() / 255
    expected = [_numpy_colorfulness(img.astype(np.float64) / 255) for img in real_crops[:4]]
    np.testing.assert_allclose(colorfulness(rgb).numpy(), expected, rtol=1e-4)
    gray = rgb.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    assert torch.equal(colorfulness(gray), torch.zeros(4))
    # A half red / half green image: μ_rg = 0, σ_rg = 255, yb = 127.5 everywhere -> CF = 255 + 0.3*127.5.
    two = torch.zeros(1, 3, 2, 2)
    two[0, 0, 0], two[0, 1, 1] = 1.0, 1.0
    assert float(colorfulness(two)[0]) == pytest.approx(255 + 0.3 * 127.5, rel=1e-5)


def test_auc_perfect_is_one_and_constant_error_is_exact():
    ab = torch.randint(-100, 60, (2, 2, 8, 8)).float() / 128  # on the 8-bit grid, so shifts are exact
    assert torch.equal(ab_auc(ab, ab), torch.ones(2))
    shifted = ab.clone()
    shifted[:, 0] += 50.0 / 128  # error exactly 50 ab* units
    assert ab_auc(shifted, ab)[0].item() == pytest.approx(101 / 151, abs=1e-6)  # thresholds 50..150 of 0..150
    assert ab_auc(ab + 2.0, ab)[0].item() == 0.0  # error 362 > 150 everywhere
    assert ab_auc(shifted, ab, max_threshold=100, step=10)[0].item() == pytest.approx(6 / 11)


def test_perfect_prediction_beats_gray_on_real_crops(crops_normalized):
    L, ab = (x[:8] for x in crops_normalized)
    perfect = image_metrics(L, ab, ab)
    gray = image_metrics(L, torch.zeros_like(ab), ab)
    assert torch.equal(perfect["psnr"], torch.full((8,), 100.0))  # infinite PSNR capped, never inf/nan
    torch.testing.assert_close(perfect["ssim"], torch.ones(8))
    assert torch.equal(perfect["auc"], torch.ones(8))
    torch.testing.assert_close(perfect["cf"], perfect["cf_true"])
    assert (gray["psnr"] < 60).all() and gray["psnr"].mean() < 35
    assert (gray["auc"] < 1).all() and (gray["ssim"] <= perfect["ssim"]).all()
    assert (gray["cf"] < 0.01).all()  # a = b = 0 renders neutral gray (up to float rounding)
    assert perfect["cf_true"].mean() > 20  # the crops really are colourful
    # A half-way prediction lands in between on PSNR and AuC.
    half = image_metrics(L, 0.5 * ab, ab)
    assert gray["psnr"].mean() < half["psnr"].mean() < 100
    assert gray["auc"].mean() < half["auc"].mean() < 1


def test_psnr_and_ssim_use_rgb_from_true_L(crops_normalized):
    from torchmetrics.functional.image import peak_signal_noise_ratio

    L, ab = crops_normalized[0][:2], crops_normalized[1][:2]
    pred = 0.7 * ab
    got = image_metrics(L, pred, ab)["psnr"]
    rgb_pred, rgb_true = render_normalized(L, pred, dtype=torch.float32), render_normalized(L, ab, dtype=torch.float32)
    ref = [peak_signal_noise_ratio(rgb_pred[i], rgb_true[i], data_range=1.0) for i in range(2)]
    torch.testing.assert_close(got, torch.stack(ref))


@pytest.mark.parametrize("sigma", [1.5, 0.8])
def test_the_one_ssim_formula_is_torchmetrics_ssim(crops_normalized, sigma):
    """Whole images and strips share :func:`ssim_map`; torchmetrics' Gaussian SSIM is the reference."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    L, ab = crops_normalized[0][:3], crops_normalized[1][:3]
    rgb_pred = render_normalized(L, 0.6 * ab + 0.05, dtype=torch.float32)
    rgb_true = render_normalized(L, ab, dtype=torch.float32)
    ref = structural_similarity_index_measure(rgb_pred, rgb_true, sigma=sigma, data_range=1.0, reduction="none")
    torch.testing.assert_close(ssim(rgb_pred, rgb_true, sigma), ref, atol=2e-5, rtol=0)
    assert ref.min() < 0.99  # a real difference, not two near-identical images


def test_auc_counts_thresholds_as_a_search_would(crops_normalized):
    ab = crops_normalized[1][:2]
    pred = 0.5 * ab - 0.1
    err = torch.linalg.vector_norm((pred - ab) * 128, dim=1).flatten(1)
    thresholds = torch.arange(0.0, 150.5, 1.0)
    within = (err[:, :, None] <= thresholds).float().mean(dim=(1, 2))  # the fraction of (pixel, threshold) pairs
    torch.testing.assert_close(ab_auc(pred, ab), within)


def test_aggregator_keys_gray_baseline_and_dcf(crops_normalized):
    L, ab = (x[:6, :, :32, :32] for x in crops_normalized)  # small: three updates follow
    pred = 0.6 * ab + 0.05
    m = ColorizationMetrics()
    m.update(L, pred, ab)
    out = m.compute()
    assert tuple(out) == METRIC_KEYS == (
        "psnr", "ssim", "cf", "cf_true", "dcf", "auc",
        "psnr_gray", "ssim_gray", "cf_gray", "dcf_gray", "auc_gray",
    )  # fmt: skip
    per = image_metrics(L, pred, ab)
    gray = image_metrics(L, torch.zeros_like(ab), ab)
    for key in ("psnr", "ssim", "cf", "cf_true", "auc"):
        torch.testing.assert_close(out[key], per[key].mean())
    for key in ("psnr", "ssim", "cf", "auc"):
        torch.testing.assert_close(out[f"{key}_gray"], gray[key].mean())
    torch.testing.assert_close(out["dcf"], (per["cf"].mean() - per["cf_true"].mean()).abs())
    torch.testing.assert_close(out["dcf_gray"], out["cf_true"] - out["cf_gray"])
    # The gray baseline is exactly a model that predicts a = b = 0.
    zero = ColorizationMetrics()
    zero.update(L, torch.zeros_like(ab), ab)
    z = zero.compute()
    for key in ("psnr", "ssim", "cf", "dcf", "auc"):
        torch.testing.assert_close(z[key], out[f"{key}_gray"])
        torch.testing.assert_close(z[f"{key}_gray"], out[f"{key}_gray"])
    m.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert m.count == 0 and torch.isnan(m.compute()["psnr"])


def test_two_updates_and_merged_ranks_equal_one_update(crops_normalized):
    L, ab = (x[:, :, :32, :32] for x in crops_normalized)
    pred = torch.flip(ab, dims=[0])  # another image's colours: a poor but colourful prediction
    whole = ColorizationMetrics()
    whole.update(L, pred, ab)
    split = ColorizationMetrics()
    split.update(L[:5], pred[:5], ab[:5])  # unequal halves: per-batch means would be biased
    split.update(L[5:], pred[5:], ab[5:])
    # Two "ranks" whose states are reduced by sum, as torchmetrics does under DDP.
    rank0, rank1 = ColorizationMetrics(), ColorizationMetrics()
    rank0.update(L[:11], pred[:11], ab[:11])
    rank1.update(L[11:], pred[11:], ab[11:])
    rank0.merge_state(rank1)
    a, b, c = whole.compute(), split.compute(), rank0.compute()
    for key in METRIC_KEYS:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(c[key], a[key], rtol=1e-5, atol=1e-5)


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="L \\[B,1,H,W\\]"):
        ColorizationMetrics().update(
            torch.zeros(1, 1, 16, 16), torch.zeros(1, 2, 16, 16), torch.zeros(1, 2, 8, 8)
        )
