"""Checkpoints written atomically: a reader (a resumed run, eval, ``colorize``) sees the old file or the new one,
never a 0-byte or half-written one, whatever kills the writer (``kill -9``, a full disk, a failing drive).

Lightning's own writer stages the file in ``$TMPDIR`` and moves it: across filesystems that move is a copy, so a
kill during it leaves a truncated ``last.ckpt``. Here it is the project's one atomic writer
(:mod:`colorization.io.atomic`): a temp file beside the target, fsync, rename. A write error comes out as
``OSError(errno, strerror, <checkpoint path>)`` (what the job's status line names), with the temp file removed.

:class:`AtomicCheckpointIO` is the Trainer plugin (``conf/trainer/default.yaml``: ``plugins``); the strategy owns it,
so DDP runs (``trainer=ddp``, ``JobDDPStrategy``) save through it too.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from colorization.io.atomic import TEMP_SUFFIX, atomic_write

__all__ = ["AtomicCheckpointIO", "atomic_torch_save", "remove_stray_temp_files", "unreadable_reason"]

log = logging.getLogger(__name__)

def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` atomically (:func:`colorization.io.atomic.atomic_write`): ``path`` is left as it
    was on any failure; an ``OSError`` is re-raised as ``OSError(errno, strerror, str(path))``."""
    atomic_write(path, lambda sink: torch.save(obj, sink))


def remove_stray_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete the temp files a killed save left in ``directory`` (none when it does not exist); returns them.
    Call it before anything saves there (a run that starts or resumes), never while a save may be running."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stray = sorted(p for p in directory.glob(f".*{TEMP_SUFFIX}") if p.is_file())
    for p in stray:
        p.unlink(missing_ok=True)
        log.info("removed %s, left by a save that was interrupted", p)
    return stray


def unreadable_reason(path: str | os.PathLike) -> str | None:
    """``None`` when ``path`` is a complete ``torch.save`` archive, else why not ("0 bytes", "not a zip archive
    (truncated, or not written by torch.save)", ...), without loading it: milliseconds whatever its size.

    ``torch.save`` writes a zip whose central directory comes last, so a file cut short anywhere lacks it and fails
    here at once; a complete archive also lists its ``<name>/data.pkl`` (the pickled dict) and no member reaching
    past the file's end. (Pre-1.6 non-zip torch files count as unreadable; Lightning 2 never writes them.)
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return "0 bytes"
        if not zipfile.is_zipfile(path):
            return f"not a zip archive ({size} bytes: truncated, or not written by torch.save)"
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as e:
        return f"{e.__class__.__name__}: {e}"
    if not any(m.filename.endswith("/data.pkl") or m.filename == "data.pkl" for m in members):
        return "a zip archive without the data.pkl torch.save writes"
    if any(m.header_offset + m.compress_size > size for m in members):
        return "truncated (a member ends past the end of the file)"
    return None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` whose local saves are atomic (:func:`atomic_torch_save`); remote
    (fsspec URL) paths keep Lightning's own writer. Loading and removing are Lightning's."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_torch_save(checkpoint, path)
