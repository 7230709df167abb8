"""Pictures of what a model makes: sample grids of fixed validation images (W&B and disk), and test images with
their own metrics (a W&B table, and PNGs in the run dir for ``report.html``)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image

from colorization.color import render_normalized
from colorization.data.on_device import read_images
from colorization.integrations.wandb import log_sample_images, log_test_images_table, wandb_loggers
from colorization.io.test_pictures import spread, write_test_pictures
from colorization.metrics import IMAGE_METRIC_KEYS

log = logging.getLogger(__name__)


def comparison_rows(L_: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> np.ndarray:
    """``L [B,1,H,W]`` in [-1,1], ``ab_pred``/``ab_true [B,2,H,W]`` normalised -> uint8 ``[B, H, 3W, 3]``:
    gray | prediction | truth, each panel ``render_normalized`` of L with that ab."""
    gray = render_normalized(L_, torch.zeros_like(ab_true))
    pred = render_normalized(L_, ab_pred)
    true = render_normalized(L_, ab_true)
    rows = torch.cat([gray, pred, true], dim=3)  # side by side along the width
    return rows.permute(0, 2, 3, 1).cpu().numpy()


def colorize_panels(
    trainer: L.Trainer, pl_module: L.LightningModule, lab8: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 LAB ``[N,3,H,W]`` as stored -> ``(L, ab_pred, ab_true)``: floats through the datamodule's own
    ``on_after_batch_transfer`` (as a val/test batch), ab predicted by ``pl_module`` in eval mode."""
    L_, ab_true = trainer.datamodule.on_after_batch_transfer(lab8.to(pl_module.device), 0)
    was_training = pl_module.training
    pl_module.eval()
    try:
        ab_pred = pl_module.colorize_normalized(L_)
    finally:
        pl_module.train(was_training)
    return L_, ab_pred, ab_true


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
        return comparison_rows(*colorize_panels(trainer, pl_module, lab8))

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


class TestImagesCallback(L.Callback):
    """After the test: ``num_images`` tested images to the W&B table ``test/images`` (only with a W&B logger), and
    ``num_files`` of them as PNGs in ``out_dir`` (for ``report.html``; no files when ``out_dir`` is ``None``).

    W&B rows: the image id (``datamodule.image_ids``), gray | prediction | truth pictures
    (:func:`colorization.color.render_normalized`, as the sample grid) and the image's own test metrics, exactly
    the values of ``test_images.csv``. Files: :func:`colorization.io.test_pictures.write_test_pictures`
    (``<stem>_{gray,prediction,truth}.png`` and ``index.csv``). Either set is spread evenly over the tested images
    (``pl_module.test_images``, every rank's, in position order), so it is the same images whatever the number of
    ranks, and the same ids in every job of a sweep (its data seed is fixed). Only rank zero renders.
    """

    __test__ = False  # a "Test..." class that pytest must not collect where a test module imports it

    def __init__(self, num_images: int = 64, num_files: int = 0, out_dir: str | None = None) -> None:
        self.num_images = int(num_images)
        self.num_files = int(num_files)
        self.out_dir = Path(out_dir) if out_dir else None

    @rank_zero_only
    @torch.inference_mode()  # as the test batches ran (Lightning runs this hook inside the test's inference mode)
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        tested = getattr(pl_module, "test_images", None)
        dm = trainer.datamodule
        if tested is None or not hasattr(dm, "image_ids"):
            return
        n = tested["position"].numel()
        table_rows = spread(n, self.num_images) if wandb_loggers(trainer) else []
        file_rows = spread(n, self.num_files) if self.out_dir is not None else []
        rows = sorted(set(table_rows) | set(file_rows))
        if not rows:
            return
        positions = tested["position"][rows].tolist()
        L_, ab_pred, ab_true = colorize_panels(trainer, pl_module, read_images(dm.data_test, positions))
        panels = {name: render_normalized(L_, ab).permute(0, 2, 3, 1).cpu().numpy()
                  for name, ab in (("gray", torch.zeros_like(ab_true)), ("prediction", ab_pred), ("truth", ab_true))}
        ids = dm.image_ids("test", positions)
        at = {row: i for i, row in enumerate(rows)}  # tested row -> its index in the rendered panels
        if table_rows:
            pick = [at[r] for r in table_rows]
            values = {key: tested[key][table_rows].tolist() for key in IMAGE_METRIC_KEYS}
            log_test_images_table(trainer, [ids[i] for i in pick], {k: v[pick] for k, v in panels.items()}, values)
        if file_rows and self.out_dir is not None:
            pick = [at[r] for r in file_rows]
            write_test_pictures(self.out_dir, [ids[i] for i in pick], {k: v[pick] for k, v in panels.items()})
