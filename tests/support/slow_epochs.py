"""A test-only callback that makes each epoch last long enough for a test to act between two epochs."""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger(__name__)


class SleepEachEpoch(L.Callback):
    """Sleep ``seconds`` as each training epoch starts (after the previous epoch's checkpoints were written), after
    logging ``training epoch <n> starts`` (a test reads where a resumed run began).

    A tiny CPU epoch takes well under a second; a test that pre-empts a job once ``last.ckpt`` exists needs the
    next epoch to be still running when its signal lands.

    Args:
        seconds: the pause per epoch, >= 0.
    """

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        log.info("training epoch %d starts", trainer.current_epoch)
        time.sleep(self.seconds)
