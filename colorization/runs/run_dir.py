"""What the Hydra entry points (``train.py``, ``eval.py``) check before Hydra writes anything.

Hydra makes the run dir and opens its log file there before our task runs, so an unwritable place ends on
``ValueError: Unable to configure handler 'file'`` with the real cause 15 lines above. :class:`RunDirCheck`, a
Hydra callback (``hydra.callbacks.run_dir_check`` in ``conf/hydra/default.yaml``), runs first: it creates the
run dir (a sweep's dir for ``-m``) and writes a probe file there; when that fails, the command ends with one line
on stderr and exit code 1 (no traceback)::

    cannot write the run dir /data/outputs/2026-01-02/10-11-12-123: Read-only file system; set
    hydra.run.dir=... or COLORIZATION_HOME to a writable place
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class RunDirError(SystemExit):
    """The run or sweep dir cannot be written: the command ends here, its message (the dir, the reason and the
    options that move it) alone on stderr, exit code 1.

    An exit rather than an exception, because Hydra turns a callback's exception into a warning and goes on.
    """


def check_writable_dir(path: str | os.PathLike, kind: str, option: str) -> Path:
    """Create ``path`` (with its parents) and write and delete a probe file in it; return it, absolute.

    ``kind`` names the dir in the message ("run", "sweep"), ``option`` the Hydra key that sets it. A failure is a
    :class:`RunDirError`: ``cannot write the run dir <path>: Permission denied; set hydra.run.dir=... or
    COLORIZATION_HOME to a writable place``. Creating the dir early changes nothing: Hydra creates it next.
    """
    folder = Path(path).absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise RunDirError(f"cannot write the {kind} dir {folder}: {reason}; set {option}=... or COLORIZATION_HOME "
                          "to a writable place") from err
    return folder


class RunDirCheck(Callback):
    """Hydra callback: the run dir (single run) or the sweep dir (``-m``) must be writable before Hydra sets up
    its log file there; otherwise one line and exit code 1 (see :func:`check_writable_dir`)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable_dir(config.hydra.run.dir, "run", "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable_dir(config.hydra.sweep.dir, "sweep", "hydra.sweep.dir")
