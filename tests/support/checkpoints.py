"""Tiny checkpoints written exactly as train.py writes them (Lightning format, hyper-parameters inside), for the
tests of everything that reads one: colorize, eval, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
TINY_VANILLA = {"name": "vanilla", "widths": [8, 16, 32, 64]}


def tiny_module(loss: str = "l1", model: dict[str, Any] | None = None) -> L.LightningModule:
    """A seeded ``ColorizationModule`` (the tiny vanilla network unless ``model`` is given) with loss ``loss``."""
    from colorization.training.module import ColorizationModule

    torch.manual_seed(0)
    return ColorizationModule(model=model or TINY_VANILLA, loss={"name": loss}, optimizer=OPTIMIZER)


def save_checkpoint(module: L.LightningModule, path: Path) -> Path:
    """``module`` as train.py's checkpoint callbacks save it; returns ``path``."""
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", max_epochs=0)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path
