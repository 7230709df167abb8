"""The adversarial loss terms of pix2pix's conditional GAN, as pure functions of the discriminator's logits.

``vanilla`` is pix2pix's binary cross-entropy on the logits; ``lsgan`` is least squares on the raw scores
(Mao et al. 2017). Targets are plain numbers so that one-sided label smoothing (``real_label=0.9``) is a setting.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["GAN_MODES", "adversarial_loss", "realness"]

GAN_MODES = ("vanilla", "lsgan")


def adversarial_loss(logits: torch.Tensor, target: float, mode: str) -> torch.Tensor:
    """Scalar loss of patch ``logits`` ``[B,1,h,w]`` (unbounded) against the label ``target`` (e.g. 1 real, 0 fake)."""
    labels = torch.full_like(logits, target)
    if mode == "lsgan":
        return F.mse_loss(logits, labels)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, labels)
    raise ValueError(f"gan_mode must be one of {', '.join(GAN_MODES)}, got {mode!r}")


def realness(logits: torch.Tensor, mode: str) -> torch.Tensor:
    """How real the discriminator finds its input, for logging (detached scalar).

    The mean probability in [0,1] for ``vanilla``; the mean raw score (about 0 fake .. 1 real) for ``lsgan``.
    """
    return (torch.sigmoid(logits) if mode == "vanilla" else logits).mean().detach()
