"""Zhang et al. 2016 ("Colorful Image Colorization"): classification over 313 ab bins.

* Target: each pixel's true ab is soft-encoded onto its ``k`` nearest bins with a Gaussian of width ``sigma``.
* Loss: per-pixel cross-entropy against that soft target, weighted by class rebalancing (the weight of the
  pixel's nearest bin), averaged over pixels.
* Decode: the annealed mean, ``softmax(log p / T)`` then the expected bin centre.
* Resolution: as in the paper, the head predicts a quarter-resolution grid (``output_stride = 4``); the target
  is each cell's mean ab, soft-encoded there, and the decoded ab is upsampled to full size by ``decode_full``.
  A 313-channel head at full size costs 16x the logits, the log-sum-exp and their backward, for chroma that is
  smooth anyway.

The soft target has only ``k`` non-zeros, so it is never made dense: the cross-entropy gathers ``k`` log-
probabilities per pixel, and its backward (``softmax - target``) scatters ``k`` values into the softmax in place
(:func:`~colorization.losses.soft_ce.soft_cross_entropy`).
"""

from __future__ import annotations

import torch

from colorization.color import ab_to_normalized, normalized_to_ab
from colorization.errors import ConfigError, require_int, require_number
from colorization.losses.ab_bins import NUM_AB_BINS, ab_bins, candidate_table, knn_bins
from colorization.losses.rebalance import class_weights
from colorization.losses.registry import ColorizationLoss, register_loss
from colorization.losses.soft_ce import soft_cross_entropy

__all__ = ["ClassificationLoss"]


@register_loss("ce")
class ClassificationLoss(ColorizationLoss):
    """Rebalanced soft cross-entropy over the 313 in-gamut ab bins; ``out_channels = 313``.

    Args:
        lam: λ of the rebalancing mix ``((1-λ) p̃ + λ/Q)^-1`` (paper: 0.5; 1.0 = no rebalancing).
        sigma: width of the soft-encoding Gaussian, ab* units (paper: 5).
        temperature: T of the annealed-mean decode (paper: 0.38; 1 = mean, -> 0 = mode).
        k: number of nearest bins in the soft encoding (paper: 5).
        rebalance: weight pixels by the training prior; False makes ``needs_prior`` False and weights 1.
        prior: an initial ``[313]`` prior; otherwise weights stay 1 until :meth:`set_prior`.
        prior_sigma, prior_max_images: how the caller should estimate the prior
            (``cached_prior(train_set, path, max_images=loss.prior_max_images, sigma=loss.prior_sigma)``).
        output_stride: the head's resolution (paper: 4, a quarter; 1 = full size, what checkpoints made before
            the option existed use).

    The prior, weights and ``prior_set`` flag are persistent buffers, so a checkpoint carries the rebalancing
    it was trained with: ``if loss.needs_prior and not loss.has_prior: loss.set_prior(cached_prior(...))``.
    """

    out_channels = NUM_AB_BINS

    def __init__(
        self,
        lam: float = 0.5,
        sigma: float = 5.0,
        temperature: float = 0.38,
        k: int = 5,
        rebalance: bool = True,
        prior: torch.Tensor | None = None,
        prior_sigma: float = 5.0,
        prior_max_images: int | None = None,
        output_stride: int = 4,
    ) -> None:
        super().__init__(output_stride)
        self.lam = require_number("loss.lam", lam, "the uniform share of the rebalancing mix", high=1.0)
        self.sigma = require_number("loss.sigma", sigma, "soft-encoding width, ab* units", low_open=True)
        self.temperature = require_number("loss.temperature", temperature, "annealed-mean temperature",
                                          low_open=True)
        self.k = require_int("loss.k", k, f"nearest bins per pixel, at most {NUM_AB_BINS}")
        if self.k > NUM_AB_BINS:
            raise ConfigError(f"loss.k={k}: must be at most {NUM_AB_BINS}, the number of ab bins")
        self.needs_prior = bool(rebalance)
        self.prior_sigma = require_number("loss.prior_sigma", prior_sigma, "prior smoothing, ab* units; 0: none")
        if prior_max_images is not None:
            require_int("loss.prior_max_images", prior_max_images, "images sampled for the prior; null: all")
        self.prior_max_images = prior_max_images
        # Derived from code, not learned: kept out of state_dict so checkpoints stay small and portable.
        self.register_buffer("bins", ab_bins(), persistent=False)  # [313, 2] ab*
        self.register_buffer("nn_table", candidate_table(self.k), persistent=False)  # [256*256, K]
        self.register_buffer("prior", torch.full((NUM_AB_BINS,), 1.0 / NUM_AB_BINS))
        self.register_buffer("weights", torch.ones(NUM_AB_BINS))
        self.register_buffer("prior_set", torch.tensor(False))  # persistent: a resumed run knows it has one
        if prior is not None:
            self.set_prior(prior)

    def set_prior(self, prior: torch.Tensor) -> None:
        """Rebalance by the training bin distribution ``[313]`` (weights stay 1 if not ``rebalance``)."""
        prior = torch.as_tensor(prior, dtype=torch.float32).flatten()
        if prior.numel() != NUM_AB_BINS:
            raise ValueError(f"prior must have {NUM_AB_BINS} entries, got {prior.numel()}")
        self.prior.copy_(prior / prior.sum())
        if self.needs_prior:
            self.weights.copy_(class_weights(self.prior, self.lam))
        self.prior_set.fill_(True)

    @property
    def has_prior(self) -> bool:
        """Whether :meth:`set_prior` ran (here or in the run whose state_dict was loaded)."""
        return bool(self.prior_set)

    @torch.no_grad()
    def encode(self, target_ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft-encode normalised ab ``[B,2,H,W]`` -> ``(index [B,k,H,W] int64, weight [B,k,H,W] float32)``.

        Bins are sorted nearest first; weights are ``exp(-d²/2σ²)`` of the exact ab, normalised to sum 1.
        """
        B, _, H, W = target_ab.shape
        ab_star = normalized_to_ab(target_ab.detach()).permute(0, 2, 3, 1).reshape(-1, 2)
        d2, idx = knn_bins(ab_star, self.nn_table, self.bins, k=self.k)
        z = torch.softmax(-d2 / (2.0 * self.sigma**2), dim=1)  # = normalised Gaussian, stable for far points
        return (idx.view(B, H, W, self.k).permute(0, 3, 1, 2), z.view(B, H, W, self.k).permute(0, 3, 1, 2))

    def forward(self, pred: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
        """``pred`` logits ``[B,313,h,w]`` (the stride-s grid of ``H x W``), ``target_ab`` ``[B,2,H,W]``
        normalised -> scalar loss (>= 0; log(313) ~ 5.75 for uniform logits and unit weights)."""
        self._check_shapes(pred, target_ab)
        idx, z = self.encode(self.target_at_head(target_ab))
        logits = pred.float()  # no-op for fp32; under bf16 the log-softmax wants full precision
        ce = soft_cross_entropy(logits, idx, z)  # [B,h,w]
        pixel_w = self.weights[idx[:, 0]]  # weight of the nearest bin, as in the paper
        return (pixel_w * ce).mean()

    def decode(self, pred: torch.Tensor) -> torch.Tensor:
        """Annealed mean: logits ``[B,313,H,W]`` -> ab ``[B,2,H,W]`` normalised (ab*/128).

        ``softmax(log p / T) = softmax(logits / T)``: ``log p`` and the logits differ by a per-pixel constant.
        """
        # Full precision even under autocast: a bf16 einsum would round ab* by up to ~0.5 units.
        with torch.autocast(pred.device.type, enabled=False):
            q = torch.softmax(pred.float() / self.temperature, dim=1)
            ab_star = torch.einsum("bqhw,qc->bchw", q, self.bins.float())
        return ab_to_normalized(ab_star)

    def extra_repr(self) -> str:
        return (f"lam={self.lam}, sigma={self.sigma}, temperature={self.temperature}, k={self.k}, "
                f"output_stride={self.output_stride}")
