"""pix2pix's conditional GAN (Isola et al. 2017) as its own LightningModule: ``module=gan``.

The generator is any registry model trained with a registry regression loss (``hparams["loss"]``, ``l1`` in
pix2pix), so a GAN checkpoint loads for inference exactly like any other (``net.`` + ``loss_fn.``); the
:class:`~colorization.training.discriminator.PatchDiscriminator` is a sibling submodule (``discriminator.`` in
the state dict) and the GAN settings are ``hparams["gan"]``.

Per batch, manual optimisation: one discriminator step on (L, truth) vs (L, G(L)) detached, then one generator
step against the updated discriminator plus ``lambda_l1`` * the reconstruction loss. Units: pix2pix's images live
in [-1, 1] and so do ours (L in [-1,1], ab = ab*/128 in about [-1,1]), so its lambda = 100 carries over.
``val/loss`` and ``test/loss`` are the plain reconstruction loss, comparable with ``module=default`` runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import hydra
import torch

from colorization.training.adversarial import GAN_MODES, adversarial_loss, realness
from colorization.training.discriminator import PatchDiscriminator
from colorization.training.module import ColorizationModule, plain

__all__ = ["DEFAULT_GAN", "GANModule", "gan_settings"]

DEFAULT_GAN: dict[str, Any] = {
    "lambda_l1": 100.0, "gan_mode": "vanilla", "discriminator": {}, "d_lr": 2e-4, "d_betas": [0.5, 0.999],
    "d_weight_decay": 0.0, "d_loss_weight": 0.5, "real_label": 1.0, "fake_label": 0.0, "gradient_clip_val": None,
}


def gan_settings(loss: Mapping[str, Any], gan: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(registry loss config, complete GAN settings)``.

    Raises ``ValueError`` with the offending setting for an unknown key, a bad mode or a non-positive rate.
    """
    loss, gan = dict(loss), dict(gan or {})
    unknown = sorted(set(gan) - set(DEFAULT_GAN))
    if unknown:
        raise ValueError(f"unknown module.gan settings {unknown}; known: {', '.join(DEFAULT_GAN)}")
    out = {**DEFAULT_GAN, **gan}
    if out["gan_mode"] not in GAN_MODES:
        raise ValueError(f"module.gan.gan_mode must be one of {', '.join(GAN_MODES)}, got {out['gan_mode']!r}")
    if out["lambda_l1"] < 0 or out["d_lr"] <= 0:
        raise ValueError(f"module.gan needs lambda_l1 >= 0 and d_lr > 0, got {out['lambda_l1']}, {out['d_lr']}")
    out["d_betas"] = [float(b) for b in out["d_betas"]]
    out["discriminator"] = {k: v for k, v in dict(out["discriminator"] or {}).items() if k != "in_channels"}
    return loss, out


class GANModule(ColorizationModule):
    """:class:`ColorizationModule` + a PatchGAN discriminator, trained as pix2pix (two optimizers, by hand).

    Args:
        model, loss, optimizer, scheduler, scheduler_interval, freeze_encoder_epochs, encoder_lr_mult, compile,
            channels_last: as for :class:`ColorizationModule`; ``optimizer`` and ``scheduler`` are the generator's,
            the scheduler is also built once for the discriminator. ``loss`` must predict ab (2 channels).
        gan: ``lambda_l1`` (weight of the reconstruction loss, 100), ``gan_mode`` (``vanilla`` BCE | ``lsgan``),
            ``discriminator`` (:class:`PatchDiscriminator` kwargs; ``in_channels`` is always 3 = L + ab),
            ``d_lr``, ``d_betas``, ``d_weight_decay`` (D's Adam), ``d_loss_weight`` (D's loss = this x (real +
            fake), 0.5), ``real_label``, ``fake_label`` (D's targets; 0.9 real = one-sided label smoothing),
            ``gradient_clip_val`` (clip each network's gradient norm before its step; null: off). Manual
            optimisation cannot use the trainer's ``gradient_clip_val`` or ``accumulate_grad_batches``.
    """

    def __init__(
        self,
        model: Mapping[str, Any],
        loss: Mapping[str, Any],
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        freeze_encoder_epochs: int = 0,
        encoder_lr_mult: float = 1.0,
        compile: Mapping[str, Any] | None = None,  # the config key: torch.compile options
        channels_last: bool | str = "auto",
        gan: Mapping[str, Any] | None = None,
    ) -> None:
        loss, settings = gan_settings(plain(loss), plain(gan))
        super().__init__(model=model, loss=loss, optimizer=optimizer, scheduler=scheduler,
                         scheduler_interval=scheduler_interval, freeze_encoder_epochs=freeze_encoder_epochs,
                         encoder_lr_mult=encoder_lr_mult, compile=compile, channels_last=channels_last)
        if self.loss_fn.out_channels != 2:
            raise ValueError(f"module=gan needs a loss that predicts ab (2 channels, e.g. loss=l1); "
                             f"loss={loss['name']} predicts {self.loss_fn.out_channels}")
        if self.loss_fn.output_stride != 1:  # the discriminator judges (L, ab) pairs pixel by pixel
            raise ValueError(f"module=gan needs a full-resolution head (loss.output_stride=1), "
                             f"got loss.output_stride={self.loss_fn.output_stride}")
        self.save_hyperparameters({"gan": settings})  # merged into the base's hyper-parameters
        self.gan = settings
        self.discriminator = PatchDiscriminator(in_channels=3, **settings["discriminator"])
        self.automatic_optimization = False

    @property
    def needs_unused_parameter_search(self) -> bool:
        """Always: D's backward gives G's parameters no gradient and G's gives D's none (see the base class)."""
        return True

    # ------------------------------------------------------------------ the adversarial parts
    def score(self, L_: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Discriminator logits ``[B,1,h,w]`` (unbounded) for ``L [B,1,H,W]`` in [-1,1] coloured with ``ab``."""
        return self.discriminator(torch.cat([L_.float(), ab.float()], dim=1))

    def discriminator_loss(self, L_: torch.Tensor, pred: torch.Tensor, ab: torch.Tensor) -> dict[str, torch.Tensor]:
        """D's loss on the true pair and the (detached) generated pair; ``pred`` and ``ab`` ``[B,2,H,W]``.

        Returns ``{"loss": scalar, "real": D's belief in the truth, "fake": D's belief in the prediction}``;
        beliefs are probabilities in [0,1] for ``vanilla`` and mean raw scores for ``lsgan`` (logging only).
        """
        mode = self.gan["gan_mode"]
        real_logits, fake_logits = self.score(L_, ab), self.score(L_, pred.detach())
        loss = self.gan["d_loss_weight"] * (adversarial_loss(real_logits, self.gan["real_label"], mode)
                                            + adversarial_loss(fake_logits, self.gan["fake_label"], mode))
        return {"loss": loss, "real": realness(real_logits, mode), "fake": realness(fake_logits, mode)}

    def generator_loss(self, L_: torch.Tensor, pred: torch.Tensor, ab: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's loss: fool D (labels "real") plus ``lambda_l1`` x the reconstruction loss; ``pred`` ``[B,2,H,W]``.

        Returns ``{"loss": adv + lambda_l1 * l1, "adv": adv, "l1": the unweighted reconstruction loss}``.
        """
        adv = adversarial_loss(self.score(L_, pred), self.gan["real_label"], self.gan["gan_mode"])
        l1 = self.loss_fn(pred.float(), ab)
        return {"loss": adv + self.gan["lambda_l1"] * l1, "adv": adv, "l1": l1}

    # ------------------------------------------------------------------ training
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """pix2pix's update: D on (L, truth) vs (L, G(L)) detached, then G against the updated D.

        Logs ``train/loss`` (G's total), ``train/g_adv``, ``train/g_l1`` (unweighted), ``train/d_loss``,
        ``train/d_real`` / ``train/d_fake`` (D's mean belief that truth / prediction is real).
        """
        opt_g, opt_d = self.optimizers()
        L_, ab = batch
        pred = self(L_).float()
        d = self._optimizer_step(opt_d, lambda: self.discriminator_loss(L_, pred, ab))
        g = self._optimizer_step(opt_g, lambda: self.generator_loss(L_, pred, ab))
        if self.hparams.scheduler and self.hparams.scheduler_interval == "step":
            for scheduler in self._schedulers():
                scheduler.step()
        n = len(L_)
        self._divergence.note(d["loss"], self.global_step, self.current_epoch)  # D diverging ruins G next
        self.note_train_loss(g["loss"], n)
        logged = {"g_adv": g["adv"], "g_l1": g["l1"], "d_loss": d["loss"], "d_real": d["real"], "d_fake": d["fake"]}
        self.log_dict({f"train/{k}": v.detach() for k, v in logged.items()}, on_step=True, on_epoch=True,
                      batch_size=n)
        return g["loss"].detach()

    def _optimizer_step(self, optimizer: Any, loss_terms: Any) -> dict[str, torch.Tensor]:
        """One step of one network: ``loss_terms()`` -> backward -> step (unscale, optional clipping, update);
        returns the terms."""
        # toggle_optimizer leaves only this optimizer's parameters trainable (and restores the rest after), so
        # D's backward computes no generator gradients and G's backward none for D.
        self.toggle_optimizer(optimizer)
        terms = loss_terms()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(terms["loss"])
        optimizer.step()  # clipping, if asked, happens inside: on_before_optimizer_step
        self.untoggle_optimizer(optimizer)
        return terms

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        """Clip the stepping network's gradient norm to ``gradient_clip_val`` (when set).

        Here rather than after ``manual_backward``: with ``16-mixed`` the gradients are still multiplied by the
        loss scale until Lightning's optimizer step unscales them, just before it calls this hook. Clipping earlier
        would clip the scaled norm (about 65536 times too large), i.e. almost never.
        """
        clip = self.gan["gradient_clip_val"]
        if clip is not None:
            self.clip_gradients(optimizer, gradient_clip_val=float(clip), gradient_clip_algorithm="norm")

    def _schedulers(self) -> list[Any]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return list(schedulers) if isinstance(schedulers, list) else [schedulers]

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()  # a diverged epoch stops here, before a scheduler sees its NaN val/loss
        # Manual optimisation: Lightning steps no scheduler itself. Validation already ran this epoch, so a
        # plateau scheduler sees this epoch's val/loss.
        if not (self.hparams.scheduler and self.hparams.scheduler_interval == "epoch"):
            return
        for scheduler in self._schedulers():
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                value = self.trainer.callback_metrics.get("val/loss")
                if value is not None:
                    scheduler.step(value)
            else:
                scheduler.step()

    def configure_optimizers(self) -> Any:
        """``[generator's, discriminator's]`` optimizers (D's own Adam; its parameters are in no generator
        group), and the configured scheduler once per optimizer."""
        opt_g = self.generator_optimizer()
        betas: Sequence[float] = self.gan["d_betas"]
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=float(self.gan["d_lr"]),
                                 betas=(float(betas[0]), float(betas[1])),
                                 weight_decay=float(self.gan["d_weight_decay"]))
        if not self.hparams.scheduler:
            return [opt_g, opt_d]
        make = hydra.utils.instantiate(self.hparams.scheduler)
        return [opt_g, opt_d], [make(optimizer=opt_g), make(optimizer=opt_d)]
