"""Sample grids: a fixed set of validation images as gray | prediction | truth, to W&B and to disk."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image

from colorization.color import render_normalized
from colorization.training.wandb import log_sample_images

log = logging.getLogger(__name__)


def comparison_rows(L_: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> np.ndarray:
    """``L [B,1,H,W]`` in [-1,1], ``ab_pred``/``ab_true [B,2,H,W]`` normalised -> uint8 ``[B, H, 3W, 3]``:
    gray | prediction | truth, each panel ``render_normalized`` of L with that ab."""
    gray = render_normalized(L_, torch.zeros_like(ab_true))
    pred = render_normalized(L_, ab_pred)
    true = render_normalized(L_, ab_true)
    rows = torch.cat([gray, pred, true], dim=3)  # side by side along the width
    return rows.permute(0, 2, 3, 1).cpu().numpy()


def stack_rows(rows: np.ndarray, gap: int = 2) -> np.ndarray:
    """``[B, H, W, 3]`` -> one picture ``[B*H + (B-1)*gap, W, 3]`` with white gaps between rows."""
    b, h, w, _ = rows.shape
    out = np.full((b * h + (b - 1) * gap, w, 3), 255, dtype=np.uint8)
    for i in range(b):
        out[i * (h + gap) : i * (h + gap) + h] = rows[i]
    return out


class SampleGridCallback(L.Callback):
    """Every ``every_n_epochs`` validation epochs, colorize ``num_images`` fixed validation images.

    The images come from ``datamodule.fixed_images`` (uint8, spread over the split, the same every epoch) and
    become ``(L, ab)`` through the datamodule's own ``on_after_batch_transfer``, exactly as validation batches do;
    the prediction panel is ``render_normalized(L, pl_module.colorize_normalized(L))`` in eval mode, so it is
    what ``colorize`` makes of the same L from the same weights. The grid goes to ``out_dir/epoch_NNN.png`` and,
    per image with a caption, to W&B (``val/samples``). Only rank zero writes.
    """

    def __init__(self, num_images: int = 8, every_n_epochs: int = 1, out_dir: str | None = None) -> None:
        self.num_images = num_images
        self.every_n_epochs = max(1, every_n_epochs)
        self.out_dir = Path(out_dir) if out_dir else None
        self._lab8: torch.Tensor | None = None
        self.last_path: Path | None = None

    def _fixed_images(self, trainer: L.Trainer) -> torch.Tensor | None:
        if self._lab8 is None:
            dm = trainer.datamodule
            if dm is None or not hasattr(dm, "fixed_images"):
                return None
            self._lab8 = dm.fixed_images(self.num_images, split="val")
        return self._lab8

    @torch.no_grad()
    def grid_rows(self, trainer: L.Trainer, pl_module: L.LightningModule) -> np.ndarray | None:
        """uint8 ``[N, H, 3W, 3]``: gray | prediction | truth per fixed image, or ``None`` without images."""
        lab8 = self._fixed_images(trainer)
        if lab8 is None:
            return None
        batch = trainer.datamodule.on_after_batch_transfer(lab8.to(pl_module.device), 0)
        L_, ab_true = batch
        was_training = pl_module.training
        pl_module.eval()
        try:
            ab_pred = pl_module.colorize_normalized(L_)
        finally:
            pl_module.train(was_training)
        return comparison_rows(L_, ab_pred, ab_true)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        rows = self.grid_rows(trainer, pl_module)
        if rows is None:
            return
        epoch = trainer.current_epoch
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.last_path = self.out_dir / f"epoch_{epoch:03d}.png"
            Image.fromarray(stack_rows(rows)).save(self.last_path)
        log_sample_images(trainer, list(rows), epoch)
