"""The random resized crop: one warp for the batch on an accelerator, the same crops as torchvision's
``RandomResizedCrop`` (issue 23), and the same pictures whichever way it cuts."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import ks_2samp
from torchvision.transforms import RandomResizedCrop

from colorization.data.augment import BatchAugment, cropping_mode

SCALE, RATIO = (0.6, 1.0), (0.75, 4 / 3)  # conf/data


def _ramps(n: int, size: int) -> torch.Tensor:
    """``[n, 3, size, size]``: channel 0 holds each pixel's x, channel 1 its y, channel 2 zeros."""
    coords = torch.arange(size, dtype=torch.float32)
    x = coords.expand(size, size)
    return torch.stack([x, x.T, torch.zeros_like(x)]).expand(n, 3, size, size).contiguous()


def _boxes(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The crop each output was cut from, read off its ramps (bilinear reproduces a linear ramp exactly, and the
    corners are aligned): ``(x0, w, h)`` in whole pixels, the box spanning pixels ``x0 .. x0 + w - 1``. Rounded:
    the warp's float error (1e-4) would otherwise split torchvision's ties for the KS test."""
    x0, x1 = out[:, 0, 0, 0].round(), out[:, 0, 0, -1].round()
    y0, y1 = out[:, 1, 0, 0].round(), out[:, 1, -1, 0].round()
    return x0, x1 - x0 + 1, y1 - y0 + 1


def test_the_crop_cuts_the_batch_with_one_warp_on_an_accelerator():
    assert cropping_mode(torch.device("cuda", 0)) == "resample"
    assert cropping_mode(torch.device("mps")) == "resample"
    assert cropping_mode(torch.device("cpu")) == "slice"  # faster there: BENCHMARKS.md


def test_both_ways_of_cutting_make_the_same_pictures(monkeypatch):
    x = torch.rand(64, 3, 32, 32)
    outs = {}
    for device_type in ("cpu", "cuda"):
        monkeypatch.setattr("colorization.data.augment.cropping_mode",
                            lambda _, mode="slice" if device_type == "cpu" else "resample": mode)
        aug = BatchAugment(hflip_p=0.5, crop_scale=SCALE, crop_ratio=RATIO)
        torch.manual_seed(3)
        outs[device_type] = aug(x)
        assert [mode for _, mode in aug._crops] == ["slice" if device_type == "cpu" else "resample"]
    assert torch.allclose(outs["cpu"], outs["cuda"], atol=1e-4)


@pytest.mark.parametrize("mode", ["slice", "resample"])
def test_the_crops_are_distributed_as_torchvision_draws_them(mode, monkeypatch):
    """Area fraction, aspect ratio and position of 3000 crops against torchvision's ``get_params`` (two-sample
    Kolmogorov-Smirnov; fixed seeds, so the p-values are fixed too)."""
    monkeypatch.setattr("colorization.data.augment.cropping_mode", lambda _: mode)
    n, size = 3000, 32
    torch.manual_seed(0)
    x0, w, h = _boxes(BatchAugment(hflip_p=0.0, crop_scale=SCALE, crop_ratio=RATIO)(_ramps(n, size)))
    assert ((w * h / size**2 >= SCALE[0] - 0.05) & (w <= size + 1e-3) & (h <= size + 1e-3)).all()
    torch.manual_seed(0)
    ref = torch.tensor([RandomResizedCrop.get_params(torch.zeros(3, size, size), list(SCALE), list(RATIO))
                        for _ in range(n)], dtype=torch.float32)  # (top, left, height, width)
    ours = {"area": w * h / size**2, "ratio": w / h, "left": x0 / (size - w).clamp(min=1)}
    theirs = {"area": ref[:, 2] * ref[:, 3] / size**2, "ratio": ref[:, 3] / ref[:, 2],
              "left": ref[:, 1] / (size - ref[:, 3]).clamp(min=1)}
    for key in ours:
        assert ks_2samp(ours[key].numpy(), theirs[key].numpy()).pvalue > 1e-3, key
    assert ours["area"].mean() == pytest.approx(float(theirs["area"].mean()), abs=0.01)
