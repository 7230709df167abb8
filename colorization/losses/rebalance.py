"""Class rebalancing for the classification loss: the training set's ab-bin prior and its weights.

Zhang et al. 2016, eq. 4: ``w ∝ ((1 - λ) p̃ + λ / Q)^-1`` normalised so that ``E_p̃[w] = 1``, where ``p̃`` is the
empirical distribution of the training pixels over the 313 bins (each pixel counted at its nearest bin),
smoothed with a Gaussian on the ab plane. Counting is cheap: a 256x256 histogram of the uint8 (a8, b8) pairs
per image, and every one of those 65,536 colours is mapped to its nearest bin once.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colorization.color.encoding import ab8_to_ab
from colorization.io.atomic import atomic_write
from colorization.io.json_files import write_json
from colorization.losses.ab_bins import NUM_AB_BINS, ab_bins, candidate_table, knn_bins

log = logging.getLogger(__name__)

__all__ = [
    "ab_histogram", "cached_prior", "class_weights", "estimate_ab_prior", "histogram_to_bins", "smooth_prior",
]  # fmt: skip

_CACHE_VERSION = 1


def ab_histogram(lab8: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Joint histogram of (a8, b8) over all pixels of uint8 LAB ``[..., 3, H, W]`` -> int64 ``[256, 256]``."""
    x = torch.as_tensor(lab8)
    if x.dtype != torch.uint8 or x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected uint8 LAB [..., 3, H, W], got {x.dtype} {tuple(x.shape)}")
    a8 = x[..., 1, :, :].reshape(-1).long()
    b8 = x[..., 2, :, :].reshape(-1).long()
    return torch.bincount(a8 * 256 + b8, minlength=256 * 256).view(256, 256)


@functools.lru_cache(maxsize=1)
def _nearest_bin_of_ab8() -> torch.Tensor:
    """Nearest bin of every 8-bit (a8, b8) pair, int64 ``[256 * 256]`` indexed ``a8 * 256 + b8``."""
    ab_star = ab8_to_ab(torch.arange(256))
    ga, gb = torch.meshgrid(ab_star, ab_star, indexing="ij")
    _, idx = knn_bins(torch.stack([ga.reshape(-1), gb.reshape(-1)], 1), candidate_table(1), ab_bins(), k=1)
    return idx[:, 0]


def histogram_to_bins(hist: torch.Tensor) -> torch.Tensor:
    """Fold a ``[256, 256]`` (a8, b8) histogram onto the 313 bins by nearest centre -> float64 ``[313]``."""
    counts = torch.zeros(NUM_AB_BINS, dtype=torch.float64)
    return counts.index_add_(0, _nearest_bin_of_ab8(), hist.reshape(-1).double())


def smooth_prior(counts: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Gaussian-smooth bin counts ``[313]`` on the ab plane (σ in ab* units), normalise -> float32 ``[313]``.

    The discrete distribution is convolved with ``exp(-d²/2σ²)`` and sampled at the bin centres; ``sigma=0``
    only normalises.
    """
    p = counts.double().flatten()
    if p.numel() != NUM_AB_BINS or (p < 0).any() or p.sum() <= 0:
        raise ValueError("counts must be 313 non-negative numbers with a positive sum")
    if sigma > 0:
        bins = ab_bins().double()
        kernel = torch.exp(-torch.cdist(bins, bins).square() / (2.0 * sigma**2))
        p = kernel @ p
    return (p / p.sum()).float()


def class_weights(prior: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Rebalancing weights ``[313]`` from a prior ``[313]``: ``w ∝ ((1-λ) p + λ/Q)^-1`` with ``Σ p w = 1``.

    ``lam=1`` gives uniform weights (no rebalancing); ``lam=0`` weights purely by inverse frequency.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    p = prior.double().flatten()
    p = p / p.sum()
    w = 1.0 / ((1.0 - lam) * p + lam / p.numel()).clamp_min(1e-12)
    return (w / (p * w).sum()).to(prior.dtype if prior.is_floating_point() else torch.float32)


def _images(item: Any) -> torch.Tensor:
    """A dataset item or batch -> uint8 LAB ``[..., 3, H, W]`` (a tuple's first element, a dict's 'lab')."""
    if isinstance(item, dict):
        item = item["lab"] if "lab" in item else next(iter(item.values()))
    elif isinstance(item, (tuple, list)):
        item = item[0]
    return torch.as_tensor(item)


def estimate_ab_prior(
    source: Iterable[Any],
    max_images: int | None = None,
    sigma: float = 5.0,
) -> torch.Tensor:
    """Empirical, smoothed ab-bin distribution ``p̃`` ``[313]`` (float32, sums to 1) of uint8 LAB images.

    Args:
        source: a map-style dataset (``len`` + indexing) whose items are uint8 LAB ``[3, H, W]`` (or a tuple /
            dict holding one first), or any iterable of such images or ``[B, 3, H, W]`` batches.
        max_images: at most this many images; a dataset is then sampled at evenly spaced indices so the
            estimate sees all of it, an iterable is cut after that many. ``None``: all.
        sigma: Gaussian smoothing on the ab plane, ab* units (the paper: 5).
    """
    hist = torch.zeros(256, 256, dtype=torch.int64)
    seen = 0
    if hasattr(source, "__len__") and hasattr(source, "__getitem__") and not isinstance(source, torch.Tensor):
        n = len(source)  # type: ignore[arg-type]
        picks = range(n)
        if max_images is not None and max_images < n:
            picks = np.linspace(0, n - 1, max_images).round()
        items: Iterable[Any] = (source[int(i)] for i in picks)  # type: ignore[index]
    else:
        items = source
    for item in items:
        x = _images(item)
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if max_images is not None:
            x = x[: max_images - seen]
        hist += ab_histogram(x)
        seen += x.shape[0]
        if max_images is not None and seen >= max_images:
            break
    if seen == 0:
        raise ValueError("estimate_ab_prior got no images: is the training dataset empty?")
    return smooth_prior(histogram_to_bins(hist), sigma)


def cached_prior(
    dataset: Iterable[Any],
    cache_path: str | os.PathLike[str],
    max_images: int | None = None,
    sigma: float = 5.0,
) -> torch.Tensor:
    """The training set's prior ``[313]``, computed once and stored as ``.npy`` at ``cache_path``.

    A JSON sidecar (``<cache_path>.json``) records ``max_images`` and ``sigma``; when they differ from the
    request the prior is recomputed, so a stale cache is never used silently. An ``.npy`` without a sidecar
    (e.g. supplied by hand) is trusted as is. The file is written atomically, so ranks racing under DDP
    cannot leave a torn file; still, call it on one rank first (e.g. in ``prepare_data``) to compute once.
    """
    path = Path(cache_path)
    meta_path = path.with_name(path.name + ".json")
    meta = {"version": _CACHE_VERSION, "max_images": max_images, "sigma": float(sigma)}
    if path.is_file():
        stored = json.loads(meta_path.read_text()) if meta_path.is_file() else None
        if stored is None or stored == meta:
            prior = torch.from_numpy(np.load(path)).float()
            if prior.shape == (NUM_AB_BINS,) and torch.isfinite(prior).all() and prior.sum() > 0:
                return prior / prior.sum()
            log.warning("ab prior cache %s is malformed; recomputing it", path)
        else:
            log.info("ab prior cache %s was made with %s, not %s; recomputing it", path, stored, meta)
    prior = estimate_ab_prior(dataset, max_images=max_images, sigma=sigma)
    atomic_write(path, lambda f: np.save(f, prior.numpy()))
    write_json(meta_path, meta)
    log.info("ab prior of %s computed and cached at %s", type(dataset).__name__, path)
    return prior
