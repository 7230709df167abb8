"""A CSV logger whose ``metrics.csv`` survives a resume: a run continued from a checkpoint keeps every earlier row.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when it starts, so after ``ckpt_path=last`` the file
held only the epochs after the resume (and report.html's curves, the study plots and the sweep tools read it).
:class:`ResumableCSVLogger` keeps the rows up to the checkpoint's epoch, drops any after it (a resume from an earlier
checkpoint than the file's last row, e.g. the best one when last.ckpt was unreadable), keeps the header's columns
and appends from there. Without a resume it behaves as Lightning's (a fresh file).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from colorization.io.atomic import atomic_write

__all__ = ["ContinuingExperimentWriter", "ResumableCSVLogger", "rows_through_epoch"]

log = logging.getLogger(__name__)


def rows_through_epoch(rows: list[dict[str, str]], last_epoch: int) -> list[dict[str, str]]:
    """The rows of a ``metrics.csv`` logged in epochs ``<= last_epoch``, in file order. A row's epoch is its
    ``epoch`` cell; a row without one (the learning rate, logged as an epoch starts) belongs to the next row's
    epoch, or to the epoch after the file's last one when it ends the file (an epoch that was cut short)."""
    epochs: list[int] = []
    following = max((int(float(r["epoch"])) for r in rows if (r.get("epoch") or "").strip()), default=-1) + 1
    for row in reversed(rows):
        cell = (row.get("epoch") or "").strip()
        if cell:
            following = int(float(cell))
        epochs.append(following)
    return [row for row, epoch in zip(rows, reversed(epochs), strict=True) if epoch <= last_epoch]


class ContinuingExperimentWriter(ExperimentWriter):
    """Lightning's writer that, given ``last_epoch``, keeps an existing ``metrics.csv``'s rows through that epoch
    and its columns instead of deleting the file; with ``last_epoch=None`` it replaces the file as Lightning's does.

    The old file is dealt with at the first save, not when the writer is made: hyper-parameters are logged (and
    the writer made) before ``train`` knows which checkpoint the run resumes from.
    """

    def __init__(self, log_dir: str, last_epoch: int | None = None) -> None:
        self.last_epoch = last_epoch
        self._old_file_handled = False
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        pass  # deferred to the first save (see the class doc)

    def save(self) -> None:
        if self.metrics and not self._old_file_handled:  # (a save with nothing to write may come before fit)
            self._old_file_handled = True
            self._handle_old_file()
        super().save()

    def _handle_old_file(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        if self.last_epoch is None:
            log.info("%s exists: a fresh run replaces it", path)
            path.unlink()
            return
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = list(reader.fieldnames or [])
        kept = rows_through_epoch(rows, self.last_epoch)
        if len(kept) < len(rows):
            log.info("%s: dropping %d rows logged after epoch %d (the checkpoint resumed from)",
                     path, len(rows) - len(kept), self.last_epoch)
            text = io.StringIO(newline="")
            writer = csv.DictWriter(text, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)
            atomic_write(path, text.getvalue())  # a kill now leaves the old file or the new one
        # New rows go under the same header; a new key still rewrites it with the extra column (Lightning's way).
        self.metrics_keys = sorted(set(header) | set(self.metrics_keys))


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` (same arguments) that continues ``metrics.csv`` after :meth:`continue_after_epoch`.

    ``train`` calls ``continue_after_epoch(checkpoint["epoch"])`` before fitting from a checkpoint; until then (a
    fresh start) an old file in the log dir is replaced, as Lightning does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_epoch: int | None = None

    def continue_after_epoch(self, last_epoch: int | None) -> None:
        """Keep the rows of epochs ``<= last_epoch`` (the resumed checkpoint's ``epoch``) and append after them;
        ``None``: start a fresh file. Call before the first metrics are saved (hyper-parameters may come first)."""
        self._last_epoch = last_epoch
        if isinstance(self._experiment, ContinuingExperimentWriter):
            self._experiment.last_epoch = last_epoch

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingExperimentWriter:
        if self._experiment is not None:
            return self._experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = ContinuingExperimentWriter(self.log_dir, self._last_epoch)
        return self._experiment
