"""The LightningModule: any registry model x any loss, trained on normalised LAB batches.

Batches arrive as ``(L [B,1,H,W] in [-1,1], ab [B,2,H,W])`` floats on the device: the datamodule's
``on_after_batch_transfer`` made them from uint8 LAB there (and augmented them while training), so DataLoader
workers only slice bytes.

A GAN loss (``loss=gan``: the loss has ``is_gan`` and owns a discriminator) switches the module to Lightning's
manual optimization: per batch one discriminator step, then one generator step; see :meth:`_gan_training_step`.
"""

from __future__ import annotations

import logging
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics import MaxMetric, MeanMetric, MinMetric

from colorization.color import render_normalized
from colorization.data.augment import prepare_batch
from colorization.inference.checkpoint import split_model_config
from colorization.losses import create_loss
from colorization.metrics import ColorizationMetrics
from colorization.models import create_model, set_encoder_frozen

log = logging.getLogger(__name__)

# Metrics whose best-so-far value is tracked, and whether higher is better.
BEST_TRACKED = {"psnr": True, "ssim": True, "auc": True, "dcf": False, "loss": False}


def _plain(cfg: Any) -> Any:
    """DictConfig -> plain dict, so checkpoints hold plain containers (loadable without Hydra)."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


class ColorizationModule(L.LightningModule):
    """Trains ``create_model(model['name'], loss.out_channels, **model)`` with ``create_loss(**loss)``.

    Args:
        model: registry name under ``name`` plus model kwargs; ``compile`` and ``channels_last`` are taken out
            here (they are about how to run the net, not what it is).
        loss: registry name under ``name`` plus loss kwargs.
        optimizer: a Hydra config with ``_target_`` and ``_partial_: true`` (params are filled in here).
        scheduler: optional Hydra config likewise, or None; ``scheduler_interval`` says step or epoch.
        freeze_encoder_epochs: keep the encoder frozen for this many first epochs (transfer learning).
        encoder_lr_mult: the encoder's learning rate is the optimizer's times this (discriminative LRs).
    """

    def __init__(
        self,
        model: dict | DictConfig,
        loss: dict | DictConfig,
        optimizer: dict | DictConfig | None = None,
        scheduler: dict | DictConfig | None = None,
        scheduler_interval: str = "epoch",
        freeze_encoder_epochs: int = 0,
        encoder_lr_mult: float = 1.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "model": _plain(model),
                "loss": _plain(loss),
                "optimizer": _plain(optimizer),
                "scheduler": _plain(scheduler),
                "scheduler_interval": scheduler_interval,
                "freeze_encoder_epochs": freeze_encoder_epochs,
                "encoder_lr_mult": encoder_lr_mult,
            }
        )
        self.model_name, run, model_kw = split_model_config(_plain(model))
        self.compile_model = bool(run.get("compile", False))
        compile_kw = {"backend": run.get("compile_backend", "inductor"), "mode": run.get("compile_mode")}
        self.channels_last = bool(run.get("channels_last", False))
        loss_kw = dict(_plain(loss))
        self.loss_fn = create_loss(loss_kw.pop("name"), **loss_kw)
        self.net = create_model(self.model_name, out_channels=self.loss_fn.out_channels, **model_kw)
        # A GAN loss trains its own discriminator: two optimizers, stepped by hand in training_step.
        self.is_gan = bool(getattr(self.loss_fn, "is_gan", False))
        if self.is_gan:
            self.automatic_optimization = False
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # Not a submodule attribute: the compiled wrapper shares net's parameters, and registering it would
        # store every weight twice in checkpoints.
        forward_net = torch.compile(self.net, **compile_kw) if self.compile_model else self.net
        object.__setattr__(self, "_forward_net", forward_net)

        self.val_loss = MeanMetric()
        self.val_metrics = ColorizationMetrics()
        self.test_metrics = ColorizationMetrics()
        self.val_best = torch.nn.ModuleDict(
            {k: (MaxMetric() if higher else MinMetric()) for k, higher in BEST_TRACKED.items()}
        )
        self._gray_logged = False

    # ------------------------------------------------------------------ data
    @staticmethod
    def unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L, ab)`` from a batch: the datamodule already made floats on the device; a bare uint8 LAB batch
        (no datamodule, e.g. a benchmark or a script) is normalised here without augmentation."""
        if isinstance(batch, torch.Tensor):
            return prepare_batch(batch)
        return batch[0], batch[1]

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self._set_prior(getattr(self.trainer, "datamodule", None))

    def _set_prior(self, dm: Any) -> None:
        """The classification loss needs the training set's ab distribution (class rebalancing)."""
        loss = self.loss_fn
        if not getattr(loss, "needs_prior", False) or loss.has_prior:
            return  # a resumed or fine-tuned run keeps the prior stored in its checkpoint
        if dm is None or not hasattr(dm, "prior_source"):
            log.warning("no datamodule with a training set: the classification loss keeps a uniform prior")
            return
        from colorization.losses.rebalance import cached_prior

        dataset, cache_path = dm.prior_source()
        prior = cached_prior(dataset, cache_path, max_images=loss.prior_max_images, sigma=loss.prior_sigma)
        loss.set_prior(prior.to(self.device))

    # ------------------------------------------------------------------ forward
    def forward(self, L_: torch.Tensor) -> torch.Tensor:
        """``L [B,1,H,W]`` in [-1,1] -> network output ``[B, loss.out_channels, H, W]``."""
        if self.channels_last:
            L_ = L_.contiguous(memory_format=torch.channels_last)
        return self._forward_net(L_)

    @torch.no_grad()
    def colorize_normalized(self, L_: torch.Tensor) -> torch.Tensor:
        """``L [B,1,H,W]`` in [-1,1] -> predicted ``ab [B,2,H,W]`` (normalised), decoded by the loss."""
        return self.loss_fn.decode(self(L_).float())

    def _step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        L_, ab = self.unpack(batch)
        pred = self(L_)
        loss = self.loss_fn(pred.float(), ab)
        return loss, pred

    # ------------------------------------------------------------------ train / val / test
    def on_train_epoch_start(self) -> None:
        n = self.hparams.freeze_encoder_epochs
        if n > 0:
            frozen = self.current_epoch < n
            set_encoder_frozen(self.net, frozen)
            if self.current_epoch in (0, n):
                log.info("encoder %s at epoch %d", "frozen" if frozen else "trainable", self.current_epoch)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.is_gan:
            return self._gan_training_step(batch)
        loss, _ = self._step(batch)
        # A plain tensor: Lightning keeps the epoch mean itself, without a metric object's per-step bookkeeping.
        self.log("train/loss", loss.detach(), on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch[0]))
        return loss

    def _gan_training_step(self, batch: Any) -> torch.Tensor:
        """pix2pix's update: D on (L, truth) vs (L, G(L)) detached, then G against the updated D + lambda*L1.

        Logs ``train/loss`` (G's total), ``train/g_adv``, ``train/g_l1`` (unweighted), ``train/d_loss``,
        ``train/d_real`` / ``train/d_fake`` (D's mean belief that truth / prediction is real).
        """
        opt_g, opt_d = self.optimizers()
        gan = self.loss_fn
        L_, ab = self.unpack(batch)
        pred = self(L_).float()

        # toggle_optimizer leaves only this optimizer's parameters trainable (and restores the rest after), so
        # D's backward computes no generator gradients and G's backward none for D.
        self.toggle_optimizer(opt_d)
        d = gan.discriminator_loss(L_, pred, ab)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d["loss"])
        if gan.gradient_clip_val is not None:
            self.clip_gradients(opt_d, gradient_clip_val=gan.gradient_clip_val, gradient_clip_algorithm="norm")
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.toggle_optimizer(opt_g)
        g = gan.generator_loss(L_, pred, ab)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g["loss"])
        if gan.gradient_clip_val is not None:
            self.clip_gradients(opt_g, gradient_clip_val=gan.gradient_clip_val, gradient_clip_algorithm="norm")
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        if self.hparams.scheduler and self.hparams.scheduler_interval == "step":
            for scheduler in self._gan_schedulers():
                scheduler.step()
        n = len(L_)
        self.log("train/loss", g["loss"].detach(), on_step=True, on_epoch=True, prog_bar=True, batch_size=n)
        logged = {"g_adv": g["adv"], "g_l1": g["l1"], "d_loss": d["loss"], "d_real": d["real"], "d_fake": d["fake"]}
        self.log_dict({f"train/{k}": v.detach() for k, v in logged.items()}, on_step=True, on_epoch=True,
                      batch_size=n)
        return g["loss"].detach()

    def _gan_schedulers(self) -> list[Any]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return list(schedulers) if isinstance(schedulers, list) else [schedulers]

    def on_train_epoch_end(self) -> None:
        # Manual optimization: Lightning steps no scheduler itself. Validation already ran this epoch, so a
        # plateau scheduler sees this epoch's val/loss.
        if not (self.is_gan and self.hparams.scheduler and self.hparams.scheduler_interval == "epoch"):
            return
        for scheduler in self._gan_schedulers():
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                value = self.trainer.callback_metrics.get("val/loss")
                if value is not None:
                    scheduler.step(value)
            else:
                scheduler.step()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, pred = self._step(batch)
        self.val_loss(loss)
        L_, ab = self.unpack(batch)
        self.val_metrics.update(L_, self.loss_fn.decode(pred.float()), ab)

    def on_validation_epoch_end(self) -> None:
        values = {k: v for k, v in self.val_metrics.compute().items()}
        self.val_metrics.reset()
        values["loss"] = self.val_loss.compute()
        self.val_loss.reset()
        log_now = {f"val/{k}": v for k, v in values.items() if not k.endswith("_gray") and k != "psnr"}
        if not self.trainer.sanity_checking:
            for k, best in self.val_best.items():
                best(values[k])
                log_now[f"val/{k}_best"] = best.compute()
            if not self._gray_logged:
                # The floor a model must beat: the same data with a = b = 0. It never changes, so log it once.
                log_now.update({f"val/{k}": v for k, v in values.items() if k.endswith("_gray")})
                self._gray_logged = True
        self.log_dict(log_now, prog_bar=False, sync_dist=True)
        self.log("val/psnr", values["psnr"], prog_bar=True, sync_dist=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, pred = self._step(batch)
        self.log("test/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(batch[0]))
        L_, ab = self.unpack(batch)
        self.test_metrics.update(L_, self.loss_fn.decode(pred.float()), ab)

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        self.test_metrics.reset()
        self.log_dict({f"test/{k}": v for k, v in values.items()}, sync_dist=True)

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """RGB uint8 ``[B,3,H,W]``: the true L with the predicted ab.

        Rendered by :func:`colorization.color.render_normalized`, as every picture is.
        """
        L_ = self.unpack(batch)[0].float()
        return render_normalized(L_, self.colorize_normalized(L_))

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        hp = self.hparams
        if hp.optimizer is None:
            raise ValueError("ColorizationModule needs an optimizer config (conf/optimizer/...)")
        # A separate encoder group only when it gets its own learning rate (one group is one optimizer loop).
        split = hp.encoder_lr_mult != 1.0
        encoder_params = list(getattr(self.net, "encoder_parameters", lambda: [])()) if split else []
        encoder_ids = {id(p) for p in encoder_params}
        rest = [p for p in self.net.parameters() if id(p) not in encoder_ids]
        base_lr = hp.optimizer.get("lr", 1e-3)
        groups = [{"params": rest, "lr": base_lr}]
        if encoder_params:
            groups.append({"params": encoder_params, "lr": base_lr * hp.encoder_lr_mult, "name": "encoder"})
        optimizer = hydra.utils.instantiate(hp.optimizer)(params=groups)
        if self.is_gan:
            return self._gan_optimizers(optimizer)
        if not hp.scheduler:
            return optimizer
        scheduler = hydra.utils.instantiate(hp.scheduler)(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": hp.scheduler_interval, "monitor": "val/loss"},
        }

    def _gan_optimizers(self, opt_g: torch.optim.Optimizer) -> Any:
        """``[generator's, discriminator's]`` optimizers (the discriminator's from the loss config; its
        parameters are in no generator group), and the configured scheduler once per optimizer."""
        opt_d = self.loss_fn.discriminator_optimizer()
        if not self.hparams.scheduler:
            return [opt_g, opt_d]
        make = hydra.utils.instantiate(self.hparams.scheduler)
        return [opt_g, opt_d], [make(optimizer=opt_g), make(optimizer=opt_d)]
