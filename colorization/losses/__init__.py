"""Colorization losses: regression on ab (``l1``, ``mse``, ``huber``) and Zhang 2016 classification (``ce``).

``create_loss(name, **kw)`` builds one; ``loss.out_channels`` and ``loss.output_stride`` size the model head
(``ce``: 313 logits at a quarter resolution; regression: 2 channels at full size), ``loss.decode(pred)`` turns the
head's output into normalised ab on its grid and ``loss.decode_full(pred, (H, W))`` at the image's full size.
"""

from colorization.losses import classification, regression  # noqa: F401  (registers the losses)
from colorization.losses.ab_bins import NUM_AB_BINS, ab_bins
from colorization.losses.classification import ClassificationLoss
from colorization.losses.rebalance import cached_prior, class_weights, estimate_ab_prior, smooth_prior
from colorization.losses.registry import ColorizationLoss, create_loss, list_losses, register_loss
from colorization.losses.regression import HuberLoss, L1Loss, MSELoss

__all__ = [
    "NUM_AB_BINS",
    "ClassificationLoss",
    "ColorizationLoss",
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "ab_bins",
    "cached_prior",
    "class_weights",
    "create_loss",
    "estimate_ab_prior",
    "list_losses",
    "register_loss",
    "smooth_prior",
]
