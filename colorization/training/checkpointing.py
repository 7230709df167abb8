"""Checkpoints written atomically: a reader (a resumed run, eval, ``colorize``) sees the old file or the new one,
never a 0-byte or half-written one, whatever kills the writer (``kill -9``, a full disk, a failing drive).

Lightning's own writer stages the file in ``$TMPDIR`` and moves it: across filesystems that move is a copy, so a
kill during it leaves a truncated ``last.ckpt``. Here the temp file lies beside its target (same directory, so the
same filesystem), is written, flushed and ``fsync``-ed, then ``os.replace``-d over the target, and the directory is
``fsync``-ed so the rename itself survives a power cut. A write error comes out as ``OSError(errno, strerror,
<checkpoint path>)`` (what the job's status line names), with the temp file removed.

:class:`AtomicCheckpointIO` is the Trainer plugin (``conf/trainer/default.yaml``: ``plugins``); the strategy owns it,
so DDP runs (``trainer=ddp``, ``JobDDPStrategy``) save through it too.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import zipfile
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

__all__ = ["TEMP_SUFFIX", "AtomicCheckpointIO", "atomic_torch_save", "remove_stray_temp_files", "temp_path_for",
           "unreadable_reason"]

log = logging.getLogger(__name__)

# A temp file is ".<target name>.<pid>.<random>.partial": hidden, and never matched by "*.ckpt" (what the resume
# fallback and the sweep tools look for).
TEMP_SUFFIX = ".partial"
# Directory fsync is refused by some filesystems (and on some platforms); the file itself is already durable then.
_DIR_FSYNC_UNSUPPORTED = (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES)


def temp_path_for(target: Path) -> Path:
    """A fresh temp file name beside ``target`` (same directory): unique per process and call."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


class _FileSink:
    """A write-only file for ``torch.save`` over a raw descriptor that writes every byte it is given (looping over
    short writes) and keeps the ``OSError`` that stopped it: ``torch.save`` reports a failed write as a bare
    ``RuntimeError`` ("unexpected pos ..."), which would lose the errno (ENOSPC, EIO) the user needs to see."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.error: OSError | None = None
        self._pos = 0

    def _write_some(self, data: memoryview) -> int:
        return os.write(self.fd, data)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                written = self._write_some(view[done:])
                if written <= 0:  # no progress and no error: treat as a full device, not a silent loop
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += written
        except OSError as e:
            self.error = e
            raise
        self._pos += done
        return done

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:  # every write went straight to the descriptor
        pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as e:
        if e.errno in _DIR_FSYNC_UNSUPPORTED:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` atomically: a temp file in ``path``'s directory, fsync, ``os.replace``, fsync of
    the directory. On any failure the temp file is removed and ``path`` is left as it was; an ``OSError`` (full
    disk, I/O error, read-only filesystem) is re-raised as ``OSError(errno, strerror, str(path))``."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask decides, as for any file
        sink = _FileSink(fd)
        try:
            try:
                torch.save(obj, sink)
            except RuntimeError as e:
                if sink.error is None:
                    raise
                raise sink.error from e
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
