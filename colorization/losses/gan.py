"""``gan``: pix2pix's conditional GAN loss, a PatchGAN discriminator on ``cat(L, ab)`` plus lambda * L1 on ab.

The loss owns its discriminator (a submodule, so it is saved in every checkpoint) and the discriminator's
optimizer settings; :class:`~colorization.training.module.ColorizationModule` sees ``is_gan`` and trains with manual
optimization: one discriminator step, then one generator step per batch (as pix2pix does).

Units: pix2pix's images live in [-1, 1], and so do ours (L in [-1,1], ab = ab*/128 in about [-1,1]), so its
balance lambda = 100 between the L1 term and the adversarial term carries over unchanged.

``forward(pred, target_ab)`` is the plain (unweighted) L1, the value logged as ``val/loss`` / ``test/loss``,
comparable with ``loss=l1`` runs; the adversarial parts are :meth:`GANLoss.generator_loss` and
:meth:`GANLoss.discriminator_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from colorization.losses.registry import ColorizationLoss, register_loss
from colorization.training.discriminator import PatchDiscriminator

__all__ = ["GANLoss"]

_MODES = ("vanilla", "lsgan")


@register_loss("gan")
class GANLoss(ColorizationLoss):
    """Conditional PatchGAN + ``lambda_l1`` * L1 on normalised ab; the head predicts ab (2 channels).

    Args:
        lambda_l1: weight of the L1 term in the generator's loss (100 in pix2pix).
        gan_mode: ``vanilla`` (BCE with logits, pix2pix) or ``lsgan`` (least squares on the raw scores).
        discriminator: :class:`~colorization.training.discriminator.PatchDiscriminator` kwargs (``base_channels``,
            ``n_layers``, ``norm``, ``negative_slope``, ``kernel_size``); ``in_channels`` is always 3.
        d_lr, d_betas, d_weight_decay: the discriminator's Adam (pix2pix: 2e-4, (0.5, 0.999), 0).
        d_loss_weight: the discriminator's loss is this times (real + fake) terms (0.5 in pix2pix: it slows
            D relative to G).
        real_label, fake_label: targets of the discriminator (e.g. 0.9 for one-sided label smoothing).
        gradient_clip_val: clip each network's gradient norm to this before its step (null: no clipping).
            Manual optimization cannot use the trainer's ``gradient_clip_val``; it must stay null.
    """

    out_channels = 2
    needs_prior = False
    is_gan = True

    def __init__(
        self,
        lambda_l1: float = 100.0,
        gan_mode: str = "vanilla",
        discriminator: dict[str, Any] | None = None,
        d_lr: float = 2e-4,
        d_betas: Sequence[float] = (0.5, 0.999),
        d_weight_decay: float = 0.0,
        d_loss_weight: float = 0.5,
        real_label: float = 1.0,
        fake_label: float = 0.0,
        gradient_clip_val: float | None = None,
    ) -> None:
        super().__init__()
        if gan_mode not in _MODES:
            raise ValueError(f"gan_mode must be one of {', '.join(_MODES)}, got {gan_mode!r}")
        if lambda_l1 < 0 or d_lr <= 0:
            raise ValueError(f"gan needs lambda_l1 >= 0 and d_lr > 0, got {lambda_l1}, {d_lr}")
        self.lambda_l1 = float(lambda_l1)
        self.gan_mode = gan_mode
        self.d_lr = float(d_lr)
        self.d_betas = (float(d_betas[0]), float(d_betas[1]))
        self.d_weight_decay = float(d_weight_decay)
        self.d_loss_weight = float(d_loss_weight)
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)
        self.gradient_clip_val = None if gradient_clip_val is None else float(gradient_clip_val)
        disc_kw = dict(discriminator or {})
        disc_kw.pop("in_channels", None)  # always L + ab
        self.discriminator = PatchDiscriminator(in_channels=3, **disc_kw)

    # ------------------------------------------------------------------ the ColorizationLoss interface
    def forward(self, pred: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
        """Plain L1 of ``pred`` ``[B,2,H,W]`` vs ``target_ab`` ``[B,2,H,W]`` (normalised): the validation loss."""
        self._check_shapes(pred, target_ab)
        return F.l1_loss(pred.float(), target_ab.float())

    def decode(self, pred: torch.Tensor) -> torch.Tensor:
        """``pred`` ``[B,2,H,W]`` -> ab ``[B,2,H,W]`` clamped to [-1, 1]."""
        return pred.clamp(-1.0, 1.0)

    # ------------------------------------------------------------------ adversarial parts
    def score(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Discriminator logits ``[B,1,h,w]`` for ``L`` ``[B,1,H,W]`` in [-1,1] coloured with ``ab`` ``[B,2,H,W]``."""
        return self.discriminator(torch.cat([L.float(), ab.float()], dim=1))

    def _criterion(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        labels = torch.full_like(logits, target)
        if self.gan_mode == "lsgan":
            return F.mse_loss(logits, labels)
        return F.binary_cross_entropy_with_logits(logits, labels)

    def _belief(self, logits: torch.Tensor) -> torch.Tensor:
        """How real D finds its input: the mean probability (vanilla) or the mean raw score (lsgan)."""
        return (torch.sigmoid(logits) if self.gan_mode == "vanilla" else logits).mean().detach()

    def discriminator_loss(
        self, L: torch.Tensor, pred: torch.Tensor, target_ab: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """D's loss on the true pair and the (detached) generated pair.

        Returns ``{"loss": scalar, "real": D's belief on truth, "fake": D's belief on the prediction}``; the
        beliefs are probabilities in [0,1] for ``vanilla`` and raw scores for ``lsgan`` (for logging only).
        """
        real_logits = self.score(L, target_ab)
        fake_logits = self.score(L, pred.detach())
        loss = self.d_loss_weight * (
            self._criterion(real_logits, self.real_label) + self._criterion(fake_logits, self.fake_label)
        )
        return {"loss": loss, "real": self._belief(real_logits), "fake": self._belief(fake_logits)}

    def generator_loss(
        self, L: torch.Tensor, pred: torch.Tensor, target_ab: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """G's loss: fool D (labels "real") plus ``lambda_l1`` * L1.

        Returns ``{"loss": adv + lambda_l1 * l1, "adv": adv, "l1": unweighted L1}`` (scalars, ``loss``
        differentiable w.r.t. ``pred`` ``[B,2,H,W]``).
        """
        adv = self._criterion(self.score(L, pred), self.real_label)
        l1 = self(pred, target_ab)
        return {"loss": adv + self.lambda_l1 * l1, "adv": adv, "l1": l1}

    def discriminator_optimizer(self) -> torch.optim.Optimizer:
        """The discriminator's own Adam (its parameters only; the generator's optimizer never sees them)."""
        return torch.optim.Adam(
            self.discriminator.parameters(), lr=self.d_lr, betas=self.d_betas, weight_decay=self.d_weight_decay
        )

    def extra_repr(self) -> str:
        return f"gan_mode={self.gan_mode}, lambda_l1={self.lambda_l1}, d_lr={self.d_lr}, d_betas={self.d_betas}"
