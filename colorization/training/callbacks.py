"""Sample grids: a fixed set of validation images as gray | prediction | truth, to W&B and to disk."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image

from colorization.color import lab8_to_normalized, render_normalized

log = logging.getLogger(__name__)


def comparison_rows(L_: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> np.ndarray:
    """``L [B,1,H,W]``, ``ab_pred``/``ab_true [B,2,H,W]`` -> uint8 ``[B, H, 3W, 3]``: gray | prediction | truth."""
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
    """Every ``every_n_epochs`` validation epochs, colorize the first ``num_images`` validation images.

    The grid goes to ``out_dir/epoch_NNN.png`` and, per image with a caption, to every W&B logger
    (``val/samples``). Only rank zero writes.
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
            dataset = getattr(dm, "data_val", None) if dm is not None else None
            if dataset is None or len(dataset) == 0:
                return None
            # Spread over the whole split (and so over its photos), the same images every epoch.
            idx = np.unique(np.linspace(0, len(dataset) - 1, min(self.num_images, len(dataset))).round().astype(int))
            self._lab8 = torch.stack([torch.as_tensor(dataset[int(i)]) for i in idx])
        return self._lab8

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        lab8 = self._fixed_images(trainer)
        if lab8 is None:
            return
        L_, ab_true = lab8_to_normalized(lab8.to(pl_module.device))
        ab_pred = pl_module.colorize_normalized(L_)
        rows = comparison_rows(L_, ab_pred.float(), ab_true)
        epoch = trainer.current_epoch
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.last_path = self.out_dir / f"epoch_{epoch:03d}.png"
            Image.fromarray(stack_rows(rows)).save(self.last_path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                captions = [f"val image {i}: gray | prediction | truth (epoch {epoch})" for i in range(len(rows))]
                logger.log_image(key="val/samples", images=list(rows), caption=captions, step=trainer.global_step)
