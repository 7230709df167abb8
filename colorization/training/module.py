"""The LightningModule: any registry model x any loss, trained on normalised LAB batches (automatic optimisation).

Batches arrive as ``(L [B,1,H,W] in [-1,1], ab [B,2,H,W] = ab*/128, about [-1,1])`` floats on the device: the
datamodule's ``on_after_batch_transfer`` made them from uint8 LAB there (and augmented them while training), so
DataLoader workers only slice bytes and this module never touches data code. Test batches may carry a third
item, each image's position in the test split (int64 ``[B]``): the test then also keeps every image's own metrics
(:attr:`ColorizationModule.test_images`, gathered from all ranks), which ``train`` writes to ``test_images.csv``.

How the network runs (``compile``, ``channels_last``) is an argument of the module, not part of the model config:
checkpoints keep ``hparams["model"]`` and ``hparams["loss"]`` as what the network *is*, which is all the checkpoint
loader rebuilds inference from. pix2pix's GAN is a subclass: :class:`colorization.training.gan_module.GANModule`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import hydra
import lightning as L
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf
from torchmetrics import MaxMetric, MeanMetric, MinMetric

from colorization.color import render_normalized
from colorization.io.checkpoints import CHECKPOINT_FORMAT_VERSION
from colorization.losses import create_loss
from colorization.metrics import IMAGE_METRIC_KEYS, ColorizationMetrics
from colorization.models import set_encoder_frozen
from colorization.models.config import model_from_config
from colorization.training.divergence import DivergenceWatch, require_finite

log = logging.getLogger(__name__)

# Metrics whose best-so-far value is tracked, and whether higher is better.
BEST_TRACKED = {"psnr": True, "ssim": True, "auc": True, "dcf": False, "loss": False}
DEFAULT_COMPILE = {"enabled": False, "backend": "inductor", "mode": None}
CHANNELS_LAST_CHOICES = (True, False, "auto")


def gather_image_values(parts: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> dict[str, torch.Tensor] | None:
    """This rank's ``(positions [B], {metric: values [B]})`` per test batch -> every rank's, on the CPU:
    ``{"position": int64 [N], metric: float32 [N] for each of IMAGE_METRIC_KEYS}`` sorted by position, each
    image once (the distributed sampler pads a rank's share with repeats of the first images), or ``None``
    when no batch carried positions. Under DDP every rank must call it (it is a collective)."""
    local = None
    if parts:
        local = {"position": torch.cat([pos for pos, _ in parts]).cpu(),
                 **{k: torch.cat([v[k] for _, v in parts]).cpu() for k in IMAGE_METRIC_KEYS}}
    shares = [local]
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        shares = [None] * dist.get_world_size()
        dist.all_gather_object(shares, local)  # any sizes: a rank may hold fewer images than another
    shares = [share for share in shares if share is not None]
    if not shares:
        return None
    merged = {k: torch.cat([share[k] for share in shares]) for k in shares[0]}
    order = torch.argsort(merged["position"], stable=True)
    position = merged["position"][order]
    first = torch.ones_like(position, dtype=torch.bool)
    first[1:] = position[1:] != position[:-1]  # a repeat is the same image again: keep one
    return {k: v[order][first] for k, v in merged.items()}


def plain(cfg: Any) -> Any:
    """DictConfig -> plain dict, so checkpoints hold plain containers (loadable without Hydra)."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


class ColorizationModule(L.LightningModule):
    """Trains ``model_from_config(model, loss.out_channels)`` with ``create_loss(**loss)``.

    Args:
        model: registry name under ``name`` plus model kwargs (what the network is).
        loss: registry name under ``name`` plus loss kwargs.
        optimizer: a Hydra config with ``_target_`` and ``_partial_: true`` (params are filled in here).
        scheduler: optional Hydra config likewise, or None; ``scheduler_interval`` says step or epoch.
        freeze_encoder_epochs: keep the encoder frozen for this many first epochs (transfer learning).
        encoder_lr_mult: the encoder's learning rate is the optimizer's times this (discriminative LRs).
        compile: ``{"enabled", "backend", "mode"}``: ``torch.compile`` the network's forward.
        channels_last: ``True``, ``False`` or ``"auto"`` (on when the module runs on CUDA, where it is faster).
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
    ) -> None:
        super().__init__()
        if channels_last not in CHANNELS_LAST_CHOICES:
            raise ValueError(f"module.channels_last must be true, false or auto, got {channels_last!r}")
        compile_opts = {**DEFAULT_COMPILE, **dict(plain(compile) or {})}
        loss_cfg = dict(plain(loss))
        loss_kw = {k: v for k, v in loss_cfg.items() if k != "name"}
        self.loss_fn = create_loss(loss_cfg["name"], **loss_kw)
        # The head's stride is the loss's, but the network is built from it: the stored loss config names it, so
        # the checkpoint loader rebuilds the same network whatever the loss's default becomes.
        loss_cfg["output_stride"] = self.loss_fn.output_stride
        self.save_hyperparameters({
            "model": plain(model), "loss": loss_cfg, "optimizer": plain(optimizer), "scheduler": plain(scheduler),
            "scheduler_interval": scheduler_interval, "freeze_encoder_epochs": freeze_encoder_epochs,
            "encoder_lr_mult": encoder_lr_mult, "compile": compile_opts, "channels_last": channels_last,
        })
        self.net = model_from_config(self.hparams.model, self.loss_fn.out_channels, self.loss_fn.output_stride)
        self.channels_last = channels_last
        # Decided once the device is known (setup); None: by each input's device (no Trainer).
        self._use_channels_last: bool | None = True if channels_last is True else None
        if channels_last is True:
            self.net = self.net.to(memory_format=torch.channels_last)
        # Not a submodule attribute: the compiled wrapper shares net's parameters, and registering it would
        # store every weight twice in checkpoints.
        forward_net = (torch.compile(self.net, backend=compile_opts["backend"], mode=compile_opts["mode"])
                       if compile_opts["enabled"] else self.net)
        object.__setattr__(self, "_forward_net", forward_net)

        self.val_loss = MeanMetric()
        self.val_metrics = ColorizationMetrics()
        self.test_metrics = ColorizationMetrics()
        self.val_best = torch.nn.ModuleDict(
            {k: (MaxMetric() if higher else MinMetric()) for k, higher in BEST_TRACKED.items()}
        )
        for best in self.val_best.values():
            # In the checkpoint, so a resumed run's val/*_best covers the epochs before the resume too.
            best.persistent(True)
        self._gray_logged = False
        self._divergence = DivergenceWatch(loss_cfg["name"])
        self._test_parts: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []
        # After a test whose batches carried positions: every tested image's metrics (see gather_image_values).
        self.test_images: dict[str, torch.Tensor] | None = None

    # ------------------------------------------------------------------ set-up
    @property
    def compiled(self) -> bool:
        """Whether the network's forward runs under ``torch.compile`` (the DDP strategy keeps BatchNorm plain)."""
        return self._forward_net is not self.net

    @property
    def needs_unused_parameter_search(self) -> bool:
        """Whether a backward pass may leave parameters without a gradient (a frozen encoder's): DDP must then
        search for them (``find_unused_parameters``), see :class:`colorization.distributed.JobDDPStrategy`."""
        return self.hparams.freeze_encoder_epochs > 0

    def setup(self, stage: str) -> None:
        # The root device is known here, before the strategy moves the net there and wraps it (DDP): converting
        # the weights now keeps DDP's gradient buckets in the same memory format as the gradients.
        self._use_channels_last = self._wants_channels_last(self.trainer.strategy.root_device)
        if self._use_channels_last:
            self.net.to(memory_format=torch.channels_last)
        if stage == "fit":
            self._set_prior(getattr(self.trainer, "datamodule", None))

    def _wants_channels_last(self, device: torch.device) -> bool:
        return self.channels_last is True or (self.channels_last == "auto" and device.type == "cuda")

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
        """``L [B,1,H,W]`` in [-1,1] -> network output ``[B, loss.out_channels, ceil(H/s), ceil(W/s)]``
        (unbounded), s = ``loss.output_stride``."""
        use_cl = self._use_channels_last
        if use_cl is None:
            use_cl = self._wants_channels_last(L_.device)
        if use_cl:
            L_ = L_.contiguous(memory_format=torch.channels_last)
        return self._forward_net(L_)

    @torch.no_grad()
    def colorize_normalized(self, L_: torch.Tensor) -> torch.Tensor:
        """``L [B,1,H,W]`` in [-1,1] -> predicted ``ab [B,2,H,W]`` in [-1,1] (normalised), decoded by the loss
        and brought to L's full size (every picture and metric sees that)."""
        return self.full_ab(self(L_), L_)

    def full_ab(self, pred: torch.Tensor, L_: torch.Tensor) -> torch.Tensor:
        """Network output (the loss's head grid) -> ab ``[B,2,H,W]`` normalised at the size of ``L [B,1,H,W]``."""
        return self.loss_fn.decode_full(pred.float(), L_.shape[-2:])

    def _step(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L, ab)`` (or ``(L, ab, positions)``) -> ``(scalar loss, network output [B, loss.out_channels, h, w])``
        on the loss's head grid; the loss brings the full-size ab to that grid itself."""
        L_, ab = batch[0], batch[1]
        pred = self(L_)
        return self.loss_fn(pred.float(), ab), pred

    # ------------------------------------------------------------------ train / val / test
    def on_train_epoch_start(self) -> None:
        n = self.hparams.freeze_encoder_epochs
        if n > 0:
            frozen = self.current_epoch < n
            set_encoder_frozen(self.net, frozen)
            if self.current_epoch in (0, n):
                log.info("encoder %s at epoch %d", "frozen" if frozen else "trainable", self.current_epoch)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._step(batch)
        self.note_train_loss(loss, len(batch[0]))
        return loss

    def note_train_loss(self, loss: torch.Tensor, batch_size: int) -> None:
        """Log the training loss and watch it for divergence, all without a host sync.

        The per-step value goes to the loggers only (they read it every ``trainer.log_every_n_steps``); the
        progress bar shows the epoch mean, because a per-step value there is a ``.item()`` every batch, which
        keeps the host from queueing the next step while the GPU works.
        """
        loss = loss.detach()
        self._divergence.note(loss, self.global_step, self.current_epoch)
        # A plain tensor: Lightning keeps the epoch mean itself, without a metric object's per-step bookkeeping.
        self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=batch_size)
        self.log("loss", loss, on_step=False, on_epoch=True, prog_bar=True, logger=False, batch_size=batch_size)

    # ------------------------------------------------------------------ divergence
    def check_divergence(self) -> None:
        """Raise :class:`~colorization.errors.LossDivergedError` if a training loss since the start was NaN or
        infinite, on this rank or (under DDP, all-reduced, so every rank stops together) on any other."""
        trainer = self._trainer
        local = self._divergence.first() is not None
        anywhere = local
        if trainer is not None and trainer.world_size > 1:
            anywhere = trainer.strategy.reduce_boolean_decision(local, all=False)
        self._divergence.check(any_rank=anywhere)

    def on_train_start(self) -> None:
        self._divergence.reset()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # Lightning reads the logged values back (a host sync) every log_every_n_steps: check then, at no extra
        # cost to the steps between.
        if (batch_idx + 1) % max(1, self.trainer.log_every_n_steps) == 0:
            self.check_divergence()

    def on_train_epoch_end(self) -> None:
        self.check_divergence()

    def on_validation_start(self) -> None:
        # Before validation renders anything (the sample grid): weights a NaN step has poisoned colour nothing.
        if not self.trainer.sanity_checking:
            self.check_divergence()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, pred = self._step(batch)
        if batch_idx == 0:  # one sync per validation: the last training step may have poisoned the weights
            require_finite(loss, "validation", self.global_step, self.current_epoch, self._divergence.loss_name)
        self.val_loss(loss)
        self.val_metrics.update(batch[0], self.full_ab(pred, batch[0]), batch[1])

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

    def on_test_epoch_start(self) -> None:
        self._test_parts = []
        self.test_images = None

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        """``(L, ab)`` or ``(L, ab, positions int64 [B])``: the latter also keeps each image's metrics."""
        loss, pred = self._step(batch)
        self.log("test/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(batch[0]))
        values = self.test_metrics.per_image(batch[0], self.full_ab(pred, batch[0]), batch[1])
        self.test_metrics.update(values=values)
        if len(batch) > 2:
            self._test_parts.append((batch[2], values))

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        self.test_metrics.reset()
        self.log_dict({f"test/{k}": v for k, v in values.items()}, sync_dist=True)
        self.test_images = gather_image_values(self._test_parts)
        self._test_parts = []

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """``(L, ab)`` -> RGB uint8 ``[B,3,H,W]`` in [0,255]: the true L with the predicted ab.

        Rendered by :func:`colorization.color.render_normalized`, as every picture is.
        """
        L_ = batch[0].float()
        return render_normalized(L_, self.colorize_normalized(L_))

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Stamp the file with its format, which every loader checks (:mod:`colorization.io.checkpoints`)."""
        checkpoint["format_version"] = CHECKPOINT_FORMAT_VERSION

    # ------------------------------------------------------------------ optimisation
    def generator_optimizer(self) -> torch.optim.Optimizer:
        """The configured optimizer over the network's parameters (an ``encoder`` group when its lr differs)."""
        hp = self.hparams
        if hp.optimizer is None:
            raise ValueError(f"{type(self).__name__} needs an optimizer config (conf/optimizer/...)")
        # A separate encoder group only when it gets its own learning rate (one group is one optimizer loop).
        split = hp.encoder_lr_mult != 1.0
        encoder_params = list(getattr(self.net, "encoder_parameters", lambda: [])()) if split else []
        encoder_ids = {id(p) for p in encoder_params}
        rest = [p for p in self.net.parameters() if id(p) not in encoder_ids]
        base_lr = hp.optimizer.get("lr", 1e-3)
        groups = [{"params": rest, "lr": base_lr}]
        if encoder_params:
            groups.append({"params": encoder_params, "lr": base_lr * hp.encoder_lr_mult, "name": "encoder"})
        return hydra.utils.instantiate(hp.optimizer)(params=groups)

    def configure_optimizers(self) -> Any:
        optimizer = self.generator_optimizer()
        hp = self.hparams
        if not hp.scheduler:
            return optimizer
        scheduler = hydra.utils.instantiate(hp.scheduler)(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": hp.scheduler_interval, "monitor": "val/loss"},
        }
