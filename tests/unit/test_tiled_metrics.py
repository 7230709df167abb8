"""Metrics in strips of rows (whole photos in bounded memory) equal the whole-image metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from colorization.color import lab8_to_normalized, rgb_to_lab8
from colorization.metrics import IMAGE_METRIC_KEYS, ColorizationMetrics, image_metrics
from colorization.metrics.image import gaussian_window
from colorization.metrics.strips import image_metrics_in_strips


def _truth(rgb: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB uint8 ``[H,W,3]`` -> ``(L [1,1,H,W], ab [1,2,H,W])`` through the 8-bit LAB encoding."""
    return lab8_to_normalized(rgb_to_lab8(torch.from_numpy(np.array(rgb)).permute(2, 0, 1))[None])


def _whole(L: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> dict[str, torch.Tensor]:
    """The reference: torchmetrics on the whole image, for the prediction and for the gray baseline."""
    pred = image_metrics(L, ab_pred, ab_true)
    gray = image_metrics(L, torch.zeros_like(ab_true), ab_true)
    return {**pred, **{f"{k}_gray": gray[k] for k in ("psnr", "ssim", "cf", "auc")}}


@pytest.fixture(scope="module")
def photo_700x500(real_photos) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A real 700x500 photo's truth and a noisy, partly wrong prediction of its colours."""
    rgb = np.asarray(Image.fromarray(real_photos["skimage_astronaut"]).resize((700, 500), Image.Resampling.BICUBIC))
    L, ab = _truth(rgb)
    torch.manual_seed(0)
    ab_pred = (0.6 * ab + 0.1 * torch.randn_like(ab) + 0.05).clamp(-1, 1)
    return L, ab_pred, ab


def test_strips_equal_the_whole_image_on_a_700x500_photo(photo_700x500):
    L, ab_pred, ab_true = photo_700x500
    whole = _whole(L, ab_pred, ab_true)
    # 64-row strips (the default), and 37 (a short last strip of 19 rows, halos across every boundary).
    for rows in (64, 37):
        strips = image_metrics_in_strips(L, ab_pred, ab_true, strip_rows=rows)
        assert set(strips) == set(whole)
        for key, value in whole.items():
            torch.testing.assert_close(strips[key], value, rtol=0, atol=1e-4, msg=f"{key} with {rows} rows")
    # the prediction is neither perfect nor gray: every metric is really compared
    assert 10 < float(whole["psnr"]) < 40 and float(whole["ssim"]) < 0.99 and float(whole["cf"]) > 1


def test_strips_of_a_batch_one_row_high_and_a_perfect_prediction(real_crops):
    """Per image in a batch; one-row strips (halo > strip); a perfect prediction caps PSNR like torchmetrics."""
    L, ab = _truth(real_crops[0])
    L2, ab2 = _truth(real_crops[1])
    L, ab = torch.cat([L, L2]), torch.cat([ab, ab2])
    ab_pred = torch.stack([ab[0], ab[1].flip(-1)])  # image 0 perfect, image 1 mirrored colours
    whole = _whole(L, ab_pred, ab)
    for rows in (1, 5):
        strips = image_metrics_in_strips(L, ab_pred, ab, strip_rows=rows, workers=2)
        for key, value in whole.items():
            torch.testing.assert_close(strips[key], value, rtol=0, atol=1e-4, msg=f"{key} with {rows} rows")
    assert float(whole["psnr"][0]) == 100.0 and float(whole["ssim"][0]) == pytest.approx(1.0)


def test_the_aggregator_in_strips_gives_the_same_per_image_values(real_crops):
    L, ab = _truth(np.concatenate([real_crops[2], real_crops[3]], axis=0))  # a 128x64 photo
    ab_pred = (ab * 0.5).roll(7, dims=-1)
    whole = ColorizationMetrics().per_image(L, ab_pred, ab)
    strips = ColorizationMetrics(strip_rows=16).per_image(L, ab_pred, ab)
    assert list(strips) == list(IMAGE_METRIC_KEYS)
    for key in IMAGE_METRIC_KEYS:
        torch.testing.assert_close(strips[key], whole[key], rtol=0, atol=1e-4, msg=key)


def test_window_is_torchmetrics_gaussian_and_small_images_are_refused():
    taps = gaussian_window(1.5)
    assert taps.numel() == 11 and float(taps.sum()) == pytest.approx(1.0)
    assert torch.equal(taps, taps.flip(0)) and int(taps.argmax()) == 5
    L, ab = torch.zeros(1, 1, 5, 40), torch.zeros(1, 2, 5, 40)
    with pytest.raises(ValueError, match="larger than 5 px"):
        image_metrics_in_strips(L, ab, ab)
    with pytest.raises(ValueError, match="strip_rows"):
        image_metrics_in_strips(torch.zeros(1, 1, 20, 20), torch.zeros(1, 2, 20, 20), torch.zeros(1, 2, 20, 20), 0)
