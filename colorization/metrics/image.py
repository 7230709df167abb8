"""Colorization metrics: PSNR / SSIM on RGB, colourfulness and dCF, ab-error AuC, and the gray baseline.

Inputs everywhere: ``L`` ``[B,1,H,W]`` in [-1,1], ``ab_pred`` / ``ab_true`` ``[B,2,H,W]`` normalised
(ab*/128). The pure functions return one value per image (``[B]``); :class:`ColorizationMetrics` averages
them over a whole validation / test set, correctly across DDP ranks (sum states reduced with ``sum``,
means = sum / count).

* PSNR, SSIM: on sRGB in [0,1] made from the true L and the predicted vs the true ab (``data_range=1``; SSIM with
  torchmetrics' Gaussian window and constants, written here as separable sums so that whole images and strips of
  big photos share one formula, :mod:`colorization.metrics.strips`). A perfect prediction has infinite PSNR; it is
  capped at ``max_psnr`` so means stay finite. The sRGB is :func:`colorization.color.render_normalized`, the
  rendering of every picture a person sees (out-of-gamut colours desaturated at constant lightness), so a metric
  scores what is shown.
* Colourfulness CF (Hasler & Süsstrunk 2003) on 0..255 RGB: ``rg = R-G``, ``yb = (R+G)/2 - B``,
  ``CF = sqrt(σ_rg² + σ_yb²) + 0.3 sqrt(μ_rg² + μ_yb²)``; dCF = ``|mean CF(pred) - mean CF(true)|``.
* AuC (Zhang et al. 2016): the fraction of pixels whose ab error (Euclidean, ab* units) is within a threshold,
  averaged over thresholds 0, step, ..., ``max_threshold`` -> [0,1], 1 for a perfect prediction.
* ``*_gray``: the same for the gray baseline ``a = b = 0`` on the same images, the floor a model must beat.

:meth:`ColorizationMetrics.per_image` gives a batch's values per image (:data:`IMAGE_METRIC_KEYS`), which
``update(values=...)`` adds to the means; :func:`write_image_metrics` writes them as ``test_images.csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import Metric

from colorization.color import normalized_to_ab, render_normalized
from colorization.io.atomic import atomic_write

__all__ = [
    "IMAGE_METRIC_KEYS",
    "METRIC_KEYS",
    "ColorizationMetrics",
    "ab_auc",
    "auc_counts",
    "auc_thresholds",
    "blur",
    "colorfulness",
    "colorfulness_from_moments",
    "gaussian_window",
    "image_metrics",
    "psnr",
    "psnr_from_mse",
    "ssim",
    "ssim_map",
    "write_image_metrics",
]

METRIC_KEYS = (
    "psnr", "ssim", "cf", "cf_true", "dcf", "auc",
    "psnr_gray", "ssim_gray", "cf_gray", "dcf_gray", "auc_gray",
)  # fmt: skip
_SSIM_K1, _SSIM_K2 = 0.01, 0.03  # SSIM's constants (Wang et al.; torchmetrics'), for data_range = 1
_PER_IMAGE = ("psnr", "ssim", "cf", "cf_true", "auc")  # what image_metrics returns and the aggregator sums
_GRAY = ("psnr", "ssim", "cf", "auc")  # the gray baseline's per-image metrics (its cf_true is the same image's)
# One value per image, the columns of ``test_images.csv`` after ``image`` (dCF is a gap of means, not per image).
IMAGE_METRIC_KEYS = (
    "psnr", "psnr_gray", "ssim", "ssim_gray", "auc", "auc_gray", "cf", "cf_gray", "cf_true",
)  # fmt: skip


def psnr_from_mse(mse: torch.Tensor, max_psnr: float = 100.0) -> torch.Tensor:
    """PSNR (dB) of images in [0,1] from their mean squared error ``[B]`` -> ``[B]``, capped at ``max_psnr``
    (a perfect prediction, ``mse = 0``, gets the cap)."""
    return (10 * torch.log10(1.0 / mse)).clamp(max=max_psnr)


def psnr(rgb_pred: torch.Tensor, rgb_true: torch.Tensor, max_psnr: float = 100.0) -> torch.Tensor:
    """Per-image PSNR (dB) of RGB ``[B,3,H,W]`` in [0,1] -> ``[B]``, capped at ``max_psnr`` (exact -> cap)."""
    return psnr_from_mse((rgb_pred.float() - rgb_true.float()).square().mean(dim=(1, 2, 3)), max_psnr)


def gaussian_window(sigma: float, device: torch.device | None = None) -> torch.Tensor:
    """The 1-D SSIM Gaussian of torchmetrics (``gaussian_kernel=True``): ``[2 * int(3.5 sigma + 0.5) + 1]``
    taps (11 for sigma 1.5), float32, summing to 1."""
    half = int(3.5 * sigma + 0.5)
    dist = torch.arange(-half, half + 1, dtype=torch.float32, device=device)
    taps = torch.exp(-((dist / sigma) ** 2) / 2)
    return taps / taps.sum()


def blur(x: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """Separable Gaussian of ``x [..., h + 2p, W]`` whose rows are already padded -> ``[..., h, W]``, the columns
    reflected (``p = len(weights) // 2``). Shifted sums rather than a 2-D grouped convolution: several times
    faster on a CPU, and a small map stays in its cache."""
    p = len(weights) // 2
    h, width = x.shape[-2] - 2 * p, x.shape[-1]
    padded = x.new_empty((*x.shape[:-2], h, width + 2 * p))
    rows = padded[..., p : p + width]
    torch.mul(x[..., :h, :], weights[0], out=rows)
    for i in range(1, len(weights)):
        rows.add_(x[..., i : i + h, :], alpha=weights[i])
    # Reflect the columns by hand (F.pad's reflect mode was 2x slower here).
    padded[..., :p] = rows[..., 1 : p + 1].flip(-1)
    padded[..., p + width :] = rows[..., width - p - 1 : width - 1].flip(-1)
    out = padded[..., :width] * weights[0]
    for i in range(1, len(weights)):
        out.add_(padded[..., i : i + width], alpha=weights[i])
    return out


def ssim_map(mu_x: torch.Tensor, mu_y: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor,
             xy: torch.Tensor) -> torch.Tensor:
    """The SSIM map (Wang et al. 2004, torchmetrics' constants for ``data_range=1``) from the Gaussian-filtered
    statistics ``E[x], E[y], E[x²], E[y²], E[xy]`` (any equal shapes) -> same shape, in [-1, 1]. Variances are
    clamped at 0, as torchmetrics does. ``xx`` and ``xy`` are overwritten."""
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2
    mu_xx, mu_yy, mu_xy = mu_x.square(), mu_y.square(), mu_x * mu_y
    var_x = xx.sub_(mu_xx).clamp_(min=0.0)
    var_y = (yy - mu_yy).clamp_(min=0.0)
    cov = xy.sub_(mu_xy)
    num = mu_xy.mul_(2).add_(c1).mul_(cov.mul_(2).add_(c2))
    den = mu_xx.add_(mu_yy).add_(c1).mul_(var_x.add_(var_y).add_(c2))
    return num.div_(den)


def ssim(rgb_pred: torch.Tensor, rgb_true: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Gaussian window, :func:`gaussian_window`) of RGB ``[B,3,H,W]`` in [0,1] -> ``[B]``: the
    mean of :func:`ssim_map` over the image, edges reflected as torchmetrics pads them; H, W > the window's half."""
    weights = gaussian_window(sigma).tolist()
    half = len(weights) // 2
    x, y = (F.pad(img.float(), (0, 0, half, half), mode="reflect") for img in (rgb_pred, rgb_true))
    stats = (blur(x, weights), blur(y, weights), blur(x * x, weights), blur(y * y, weights), blur(x * y, weights))
    return ssim_map(*stats).mean(dim=(1, 2, 3))


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler–Süsstrunk colourfulness of RGB ``[B,3,H,W]`` in [0,1] (on 0..255) -> ``[B]``; gray -> 0."""
    x = rgb.float() * 255.0
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    return colorfulness_from_moments(rg.mean(dim=1), rg.var(dim=1, unbiased=False), yb.mean(dim=1),
                                     yb.var(dim=1, unbiased=False))


def colorfulness_from_moments(mean_rg: torch.Tensor, var_rg: torch.Tensor, mean_yb: torch.Tensor,
                              var_yb: torch.Tensor) -> torch.Tensor:
    """Hasler–Süsstrunk's formula, ``sqrt(var_rg + var_yb) + 0.3 sqrt(mean_rg² + mean_yb²)``, from the means and
    (population) variances of the opponent channels ``rg = R - G``, ``yb = (R + G) / 2 - B`` on 0..255."""
    return (var_rg + var_yb).sqrt() + 0.3 * (mean_rg.square() + mean_yb.square()).sqrt()


def auc_thresholds(max_threshold: float = 150.0, step: float = 1.0) -> int:
    """How many AuC thresholds ``0, step, ..., max_threshold`` there are."""
    return int(max_threshold // step) + 1


def auc_counts(ab_err: torch.Tensor, step: float, n_thresholds: int) -> torch.Tensor:
    """Per-image count of (pixel, threshold) pairs whose ab error is within the threshold: ``ab_err [B,2,H,W]``
    (prediction - truth, ab* units) -> float64 ``[B]``. A pixel of error ``e`` is within ``n - ceil(e / step)``
    of the thresholds ``0, step, ...`` (arithmetic instead of a search: 50x faster)."""
    err = ab_err[:, 0].square().add_(ab_err[:, 1].square()).sqrt_()
    below = err.div_(step).ceil_().clamp_(max=n_thresholds)  # thresholds < err
    return (n_thresholds - below).flatten(1).sum(1, dtype=torch.float64)


def ab_auc(
    ab_pred: torch.Tensor, ab_true: torch.Tensor, max_threshold: float = 150.0, step: float = 1.0
) -> torch.Tensor:
    """Per-image area under the CDF of per-pixel ab error, ``[B,2,H,W]`` normalised ab -> ``[B]`` in [0,1].

    Error = Euclidean distance in ab* units (``x128``); thresholds ``0, step, ..., max_threshold``
    (Zhang 2016: 0..150). A pixel contributes the fraction of thresholds at or above its error.
    """
    n = auc_thresholds(max_threshold, step)
    counts = auc_counts(normalized_to_ab(ab_pred) - normalized_to_ab(ab_true), step, n)
    return (counts / (n * ab_pred.shape[-2] * ab_pred.shape[-1])).float()


def image_metrics(
    L: torch.Tensor,
    ab_pred: torch.Tensor,
    ab_true: torch.Tensor,
    max_psnr: float = 100.0,
    ssim_sigma: float = 1.5,
    auc_max_threshold: float = 150.0,
    auc_step: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Per-image ``psnr, ssim, cf, cf_true, auc`` (each ``[B]``, float32) of a prediction vs the truth."""
    with torch.no_grad(), torch.autocast(L.device.type, enabled=False):
        rgb_true = render_normalized(L, ab_true, dtype=torch.float32)
        rgb_pred = render_normalized(L, ab_pred, dtype=torch.float32)
        return {
            "psnr": psnr(rgb_pred, rgb_true, max_psnr),
            "ssim": ssim(rgb_pred, rgb_true, ssim_sigma),
            "cf": colorfulness(rgb_pred),
            "cf_true": colorfulness(rgb_true),
            "auc": ab_auc(ab_pred, ab_true, auc_max_threshold, auc_step),
        }


class ColorizationMetrics(Metric):
    """Dataset-level means of the colorization metrics and of the gray baseline; DDP-safe.

    ``update(L, ab_pred, ab_true)`` per batch; ``compute()`` -> dict with keys exactly :data:`METRIC_KEYS`:
    ``psnr, ssim, cf, cf_true, dcf, auc, psnr_gray, ssim_gray, cf_gray, dcf_gray, auc_gray`` (scalar tensors).
    Every value is a mean over images (AuC: the mean per-image AuC, which equals the pooled pixel AuC when
    images share a size); dCF is taken between the dataset means of CF, never averaged per batch.
    ``strip_rows``: None scores each batch whole; a number scores ``strip_rows`` rows at a time
    (:mod:`colorization.metrics.strips`: the same values, memory bounded however big the photo).
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(
        self,
        max_psnr: float = 100.0,
        ssim_sigma: float = 1.5,
        auc_max_threshold: float = 150.0,
        auc_step: float = 1.0,
        strip_rows: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.strip_rows = strip_rows
        self.metric_kwargs = dict(
            max_psnr=max_psnr,
            ssim_sigma=ssim_sigma,
            auc_max_threshold=auc_max_threshold,
            auc_step=auc_step,
        )
        self.add_state("count", default=torch.tensor(0.0), dist_reduce_fx="sum")
        for key in _PER_IMAGE:
            self.add_state(f"{key}_sum", default=torch.tensor(0.0), dist_reduce_fx="sum")
        for key in _GRAY:
            self.add_state(f"{key}_gray_sum", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def per_image(self, L: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> dict[str, torch.Tensor]:
        """One batch's values per image, keys :data:`IMAGE_METRIC_KEYS`, each float32 ``[B]`` (nothing is added).

        ``L [B,1,H,W]`` in [-1,1], ``ab_pred``, ``ab_true`` ``[B,2,H,W]`` normalised; ``*_gray`` compares
        ``a = b = 0`` with the truth.
        """
        B, _, H, W = ab_true.shape
        if ab_pred.shape != ab_true.shape or L.shape != (B, 1, H, W):
            shapes = f"L {tuple(L.shape)}, ab_pred {tuple(ab_pred.shape)}, ab_true {tuple(ab_true.shape)}"
            raise ValueError(f"expected L [B,1,H,W] and ab [B,2,H,W] of one size; got {shapes}")
        if self.strip_rows is not None:
            from colorization.metrics.strips import image_metrics_in_strips  # it uses this module's formulas

            values = image_metrics_in_strips(L, ab_pred, ab_true, self.strip_rows, **self.metric_kwargs)
        else:
            pred = image_metrics(L, ab_pred, ab_true, **self.metric_kwargs)
            gray = image_metrics(L, torch.zeros_like(ab_true), ab_true, **self.metric_kwargs)
            values = {**pred, **{f"{key}_gray": gray[key] for key in _GRAY}}
        return {key: values[key] for key in IMAGE_METRIC_KEYS}

    def update(
        self,
        L: torch.Tensor | None = None,
        ab_pred: torch.Tensor | None = None,
        ab_true: torch.Tensor | None = None,
        *,
        values: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        """Add a batch: ``L [B,1,H,W]`` in [-1,1], ``ab_pred``, ``ab_true`` ``[B,2,H,W]`` normalised, or the
        batch's ``values`` as :meth:`per_image` returned them (so a caller that keeps them computes them once)."""
        if values is None:
            if L is None or ab_pred is None or ab_true is None:
                raise ValueError("update needs L, ab_pred and ab_true, or values=per_image(...)")
            values = self.per_image(L, ab_pred, ab_true)
        self.count += values["psnr"].shape[0]
        for key in _PER_IMAGE:
            setattr(self, f"{key}_sum", getattr(self, f"{key}_sum") + values[key].sum())
        for key in _GRAY:
            setattr(self, f"{key}_gray_sum", getattr(self, f"{key}_gray_sum") + values[f"{key}_gray"].sum())

    def compute(self) -> dict[str, torch.Tensor]:
        """Means over all images seen (on every rank); NaN before any update."""
        n = self.count
        out = {key: getattr(self, f"{key}_sum") / n for key in _PER_IMAGE}
        for key in _GRAY:
            out[f"{key}_gray"] = getattr(self, f"{key}_gray_sum") / n
        out["dcf"] = (out["cf"] - out["cf_true"]).abs()
        out["dcf_gray"] = (out["cf_gray"] - out["cf_true"]).abs()
        return {key: out[key] for key in METRIC_KEYS}


def write_image_metrics(path: str | Path, ids: Sequence[str], values: Mapping[str, torch.Tensor]) -> Path:
    """``test_images.csv``: a header ``image,`` + :data:`IMAGE_METRIC_KEYS`, then one row per image in ``ids``
    order with each ``values[key][i]`` at full precision (``repr`` of the float: it reads back bit-exact).

    Written atomically (:func:`colorization.io.atomic.atomic_write`): a reader never sees half a table.
    """
    path = Path(path)
    columns = [values[key].detach().cpu().double().tolist() for key in IMAGE_METRIC_KEYS]
    if any(len(col) != len(ids) for col in columns):
        raise ValueError(f"{len(ids)} image ids but per-image values of lengths {[len(c) for c in columns]}")
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image", *IMAGE_METRIC_KEYS])
    for i, image_id in enumerate(ids):
        writer.writerow([image_id, *(repr(col[i]) for col in columns)])
    return atomic_write(path, text.getvalue())
