"""Fault injection for tests of the job boundary (a callback a test config adds to one job)."""

from __future__ import annotations

import lightning as L


class RaiseOnRank(L.Callback):
    """Raise ``RuntimeError`` at the start of training on global rank ``rank`` only (any other rank trains on).

    Args:
        rank: the global rank that fails; a rank the job does not have means no failure.
    """

    def __init__(self, rank: int = 1) -> None:
        self.rank = rank

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank == self.rank:
            raise RuntimeError(f"injected failure on rank {self.rank} ")

