"""The per-image metrics of :mod:`colorization.metrics`, computed a strip of rows at a time: same values, bounded
memory, for whole photos of any size.

Every metric is a sum over pixels divided by a count, so strips add up exactly (up to float rounding):

* PSNR: the sum of squared errors (the mean is taken over all strips, then the log).
* SSIM: the mean of torchmetrics' SSIM map. Each map value needs the Gaussian window around its pixel, so a
  strip of output rows is computed from its rows plus a halo of ``window // 2`` rows on each side, taken from
  the photo itself, or reflected at the photo's top and bottom exactly as torchmetrics pads the whole image
  (``reflect``; its map keeps the border rows). The window is torchmetrics' Gaussian one: ``sigma`` sets its
  size (``2 * int(3.5 sigma + 0.5) + 1``, 11 for 1.5); torchmetrics' ``kernel_size`` only applies to uniform
  windows. The filter is separable, done as two 1-D passes of shifted sums: on a CPU that is several times
  faster than torchmetrics' 2-D grouped convolution, which made SSIM the bulk of a big photo's cost.
* Colourfulness: each strip's mean and sum of squared deviations of ``rg`` and ``yb``, combined exactly
  (Chan et al.'s parallel variance), so no float cancellation however many pixels.
* AuC: the count of (pixel, threshold) pairs within the threshold, ``n - ceil(error / step)`` per pixel.

The truth is rendered once per strip and its SSIM statistics are filtered once, shared by the prediction and
the gray baseline (``a = b = 0``). On the CPU, strips run on parallel threads with one intra-op thread each
(:func:`colorization.color.chunks.for_each_chunk`).
"""

from __future__ import annotations

import torch

from colorization.color import normalized_to_ab, render_normalized
from colorization.color.chunks import for_each_chunk
from colorization.metrics.image import (
    auc_counts,
    auc_thresholds,
    blur,
    colorfulness_from_moments,
    gaussian_window,
    psnr_from_mse,
    ssim_map,
)

__all__ = ["image_metrics_in_strips"]

# Columns of one strip's partial results (float64, one row per image). Colourfulness keeps each strip's mean and
# sum of squared deviations of rg and yb (combined exactly across strips: Chan et al.'s parallel variance).
_COLOUR = ("rg_mean", "rg_m2", "yb_mean", "yb_m2")
_SUMS = ("sse", "sse_gray", "ssim", "ssim_gray", "auc", "auc_gray",
         *(f"{m}_{img}" for img in ("pred", "true", "gray") for m in _COLOUR))  # fmt: skip
_COL = {name: i for i, name in enumerate(_SUMS)}


def _ssim_sums(
    true: torch.Tensor, pred: torch.Tensor, gray: torch.Tensor, weights: list[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM map sums ``(pred vs true, gray vs true)`` of one channel ``[h + 2p, W]`` (rows padded) -> ``[h, W]``;
    the truth's statistics are filtered once for both."""
    mu_t, tt = blur(true, weights), blur(true * true, weights)
    pred_sum, gray_sum = (
        ssim_map(blur(x, weights), mu_t, blur(x * x, weights), tt, blur(x * true, weights)).sum(dtype=torch.float64)
        for x in (pred, gray)
    )
    return pred_sum, gray_sum


def _colour_stats(rgb: torch.Tensor) -> torch.Tensor:
    """``rgb [B,3,h,W]`` in [0,1] -> ``[B,4]``: mean and sum of squared deviations of rg, then of yb (0..255)."""
    r, g, b = (rgb[:, c].flatten(1) * 255.0 for c in range(3))
    rg = r - g
    yb = r.add_(g).mul_(0.5).sub_(b)
    out = []
    for x in (rg, yb):
        mean = x.mean(1, keepdim=True)  # two passes: torch.var_mean was 10x slower on these rows
        out += [mean[:, 0].double(), x.sub_(mean).square_().sum(1, dtype=torch.float64)]
    return torch.stack(out, dim=1)


def _reflected_rows(first: int, stop: int, halo: int, height: int) -> torch.Tensor:
    """Rows ``first - halo .. stop + halo - 1`` of a photo ``height`` rows high, reflected at its edges."""
    idx = torch.arange(first - halo, stop + halo)
    idx = torch.where(idx < 0, -idx, idx)
    return torch.where(idx > height - 1, 2 * (height - 1) - idx, idx)


def _strip_sums(
    L: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor, first: int, stop: int,
    weights: list[float], auc_step: float, n_thresholds: int,
) -> torch.Tensor:
    """The partial results (columns :data:`_SUMS`, ``[B, len(_SUMS)]`` float64) of output rows ``first:stop``."""
    height, halo = L.shape[-2], len(weights) // 2
    lo, hi = max(0, first - halo), min(height, stop + halo)
    L_s, pred_s, true_s = L[:, :, lo:hi], ab_pred[:, :, lo:hi], ab_true[:, :, lo:hi]
    rgb = {
        "true": render_normalized(L_s, true_s, dtype=torch.float32),
        "pred": render_normalized(L_s, pred_s, dtype=torch.float32),
        "gray": render_normalized(L_s, torch.zeros_like(true_s), dtype=torch.float32),
    }
    core = slice(first - lo, stop - lo)
    sums = torch.zeros(L.shape[0], len(_SUMS), dtype=torch.float64, device=L.device)
    true_core = rgb["true"][:, :, core]
    for name, key in (("pred", "sse"), ("gray", "sse_gray")):
        sums[:, _COL[key]] = (rgb[name][:, :, core] - true_core).square_().sum((1, 2, 3), dtype=torch.float64)
    for name in ("pred", "true", "gray"):
        start = _COL[f"rg_mean_{name}"]
        sums[:, start : start + 4] = _colour_stats(rgb[name][:, :, core])
    true_ab = normalized_to_ab(true_s[:, :, core])
    pred_err = normalized_to_ab(pred_s[:, :, core]).sub_(true_ab)
    sums[:, _COL["auc"]] = auc_counts(pred_err, auc_step, n_thresholds)
    sums[:, _COL["auc_gray"]] = auc_counts(true_ab, auc_step, n_thresholds)
    # SSIM: the rows with their halo; at the photo's top and bottom the halo is reflected as torchmetrics pads.
    if (lo, hi) != (first - halo, stop + halo):
        idx = (_reflected_rows(first, stop, halo, height) - lo).to(L.device)
        rgb = {name: x.index_select(2, idx) for name, x in rgb.items()}
    for b in range(L.shape[0]):
        for c in range(3):
            pair = _ssim_sums(rgb["true"][b, c], rgb["pred"][b, c], rgb["gray"][b, c], weights)
            sums[b, _COL["ssim"]] += pair[0]
            sums[b, _COL["ssim_gray"]] += pair[1]
    return sums


def _colorfulness(strips: torch.Tensor, counts: torch.Tensor, name: str) -> torch.Tensor:
    """Hasler–Süsstrunk colourfulness of image ``name`` (``pred``/``true``/``gray``) from its strips' results
    ``[S,B,K]`` (``counts [S]`` pixels per strip): the strips' means and deviations combined exactly."""
    total = counts.sum()
    n = counts[:, None]
    parts = []
    for channel in ("rg", "yb"):
        means, m2 = strips[..., _COL[f"{channel}_mean_{name}"]], strips[..., _COL[f"{channel}_m2_{name}"]]
        mean = (means * n).sum(0) / total
        var = (m2 + n * (means - mean).square()).sum(0) / total
        parts.append((mean, var))
    (mean_rg, var_rg), (mean_yb, var_yb) = parts
    return colorfulness_from_moments(mean_rg, var_rg, mean_yb, var_yb)


def image_metrics_in_strips(
    L: torch.Tensor,
    ab_pred: torch.Tensor,
    ab_true: torch.Tensor,
    strip_rows: int = 64,
    max_psnr: float = 100.0,
    ssim_sigma: float = 1.5,
    auc_max_threshold: float = 150.0,
    auc_step: float = 1.0,
    workers: int | None = None,
) -> dict[str, torch.Tensor]:
    """Per-image ``psnr, ssim, cf, cf_true, auc`` and ``psnr_gray, ssim_gray, cf_gray, auc_gray`` (``[B]``
    float32 each) of ``L [B,1,H,W]`` in [-1,1] with ``ab_pred`` / ``ab_true`` ``[B,2,H,W]`` normalised: the values
    of :func:`colorization.metrics.image_metrics` for the prediction and for ``a = b = 0``, up to float rounding.

    ``strip_rows`` output rows at a time (memory: a few dozen floats per pixel of a strip, per worker);
    ``workers`` parallel strips on the CPU (None: torch's thread count). Needs ``H, W > window // 2``.
    """
    if strip_rows < 1:
        raise ValueError(f"strip_rows must be >= 1, got {strip_rows}")
    height, width = L.shape[-2:]
    weights = gaussian_window(ssim_sigma).tolist()
    if min(height, width) <= len(weights) // 2:
        raise ValueError(f"SSIM needs images larger than {len(weights) // 2} px; got {height}x{width}")
    n_thresholds = auc_thresholds(auc_max_threshold, auc_step)
    starts = range(0, height, strip_rows)
    partial: dict[int, torch.Tensor] = {}

    def work(first: int) -> None:
        stop = min(height, first + strip_rows)
        partial[first] = _strip_sums(L, ab_pred, ab_true, first, stop, weights, auc_step, n_thresholds)

    with torch.no_grad(), torch.autocast(L.device.type, enabled=False):
        if L.device.type == "cpu":
            for_each_chunk(work, height, strip_rows, workers)
        else:
            for first in starts:
                work(first)
        strips = torch.stack([partial[first] for first in starts])  # [S,B,K]
    counts = torch.tensor([(min(height, f + strip_rows) - f) * width for f in starts], dtype=torch.float64,
                          device=strips.device)
    sums, pixels = strips.sum(0), height * width
    out = {}
    for suffix in ("", "_gray"):
        mse = sums[:, _COL[f"sse{suffix}"]] / (3 * pixels)
        out[f"psnr{suffix}"] = psnr_from_mse(mse, max_psnr)
        out[f"ssim{suffix}"] = sums[:, _COL[f"ssim{suffix}"]] / (3 * pixels)
        out[f"auc{suffix}"] = sums[:, _COL[f"auc{suffix}"]] / (pixels * n_thresholds)
    for key, name in (("cf", "pred"), ("cf_true", "true"), ("cf_gray", "gray")):
        out[key] = _colorfulness(strips, counts, name)
    return {key: value.float() for key, value in out.items()}
