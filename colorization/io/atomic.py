"""Files written whole, atomically: the new content goes to a temp file beside the target (same directory, so the
same filesystem), is flushed and ``fsync``-ed, then renamed over the target, and the directory is ``fsync``-ed so
the rename survives a power cut. A reader sees the old file or the new one, never half of one, whatever stops the
writer (``kill -9``, a full disk). A write error is ``OSError(errno, strerror, <target>)``, the temp file removed.

Every file the project writes whole goes through :func:`atomic_write` (text, bytes, or a callback that writes to
the open file, as ``torch.save`` does).
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "FileSink", "atomic_write", "fsync_dir", "temp_path_for"]

# A temp file is ".<target name>.<pid>.<random>.partial": hidden, and never matched by "*.ckpt", "*.json" or
# "*.csv" (what the resume fallback and the sweep tools look for).
TEMP_SUFFIX = ".partial"
# Directory fsync is refused by some filesystems (and on some platforms); the file itself is already durable then.
_DIR_FSYNC_UNSUPPORTED = (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES)


def temp_path_for(target: Path) -> Path:
    """A fresh temp file name beside ``target`` (same directory): unique per process and call."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


class FileSink:
    """A file over a raw descriptor that writes every byte it is given (looping over short writes) and keeps the
    ``OSError`` that stopped it: ``torch.save`` reports a failed write as a bare ``RuntimeError`` ("unexpected pos
    ..."), which would lose the errno (ENOSPC, EIO) the user needs to see. Seekable and readable, for writers that
    go back (Pillow's multi-page TIFF)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.error: OSError | None = None

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
        return done

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := os.read(self.fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        return os.read(self.fd, size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self.fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def fileno(self) -> int:
        return self.fd

    def flush(self) -> None:  # every write went straight to the descriptor
        pass

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable; silently skipped where the platform or filesystem refuses."""
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


def atomic_write(path: str | os.PathLike, content: str | bytes | Callable[[FileSink], None]) -> Path:
    """Replace ``path`` with ``content`` (text as UTF-8, bytes, or a callback that writes to the given
    :class:`FileSink`, e.g. ``lambda f: torch.save(obj, f)``); return ``path``. The parent dir is created. An
    ``OSError`` (full disk, I/O error, read-only filesystem) names ``path``; on any failure ``path`` is left as it
    was and the temp file removed."""
    target = Path(path)
    tmp = temp_path_for(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # the umask decides, as for any file
        sink = FileSink(fd)
        try:
            try:
                if callable(content):
                    content(sink)
                else:
                    sink.write(content.encode() if isinstance(content, str) else content)
            except RuntimeError as e:  # torch.save's report of a failed write: the OSError behind it is kept
                if sink.error is None:
                    raise
                raise sink.error from e
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(target)) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
