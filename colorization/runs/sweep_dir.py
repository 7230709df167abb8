"""A sweep dir belongs to one sweep: its record (``sweep.json``), its lock (``.sweep.lock``), and the Hydra callback
that refuses a second sweep into it.

``sweep.json`` says how the sweep was started (the command line, its working dir, the launcher) and which jobs it
launched (job number -> overrides), so ``colorization resume DIR`` can continue it. While a sweep's driver runs it
holds an exclusive ``flock`` on ``.sweep.lock`` (the kernel drops it when the process ends, ``kill -9`` included).

:class:`SweepDirGuard` (``hydra.callbacks.sweep_dir_guard``, first in ``conf/hydra/default.yaml``) runs when a
multirun starts, before the sweeper, Ray or submitit: a dir that is locked, or that already holds a sweep's jobs, is
refused in one line naming ``hydra.sweep.dir`` and ``python -m colorization resume DIR``, and nothing in it
changes. Only ``colorization resume`` (which sets :data:`RESUME_ENV`) may run a sweep into a dir that holds one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any, TextIO

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from colorization.io.json_files import write_json
from colorization.runs.launcher_check import check_launcher
from colorization.runs.run_dir import check_writable_dir
from colorization.runs.status import STATUS_FILE

__all__ = ["LOCK_FILE", "RESUME_ENV", "RESUME_FAILED_ENV", "SWEEP_FILE", "SweepDirGuard", "SweepDirRefused",
           "lock_holder", "read_record", "record_jobs", "resuming", "sweep_jobs_in"]

log = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
LOCK_FILE = ".sweep.lock"
# Set by `colorization resume` for the sweep it continues: the sweep dir (absolute), and "1" to rerun failed jobs.
RESUME_ENV = "COLORIZATION_RESUME"
RESUME_FAILED_ENV = "COLORIZATION_RESUME_FAILED"
RECORD_VERSION = 1

_held: dict[Path, TextIO] = {}  # the locks this process holds, open until it ends (or the sweep's end callback)


class SweepDirRefused(SystemExit):
    """The sweep cannot use its dir: its message alone on stderr, exit code 1, nothing in the dir changed. An exit,
    not an exception, because Hydra turns a callback's exception into a warning and goes on."""


def resuming(sweep_dir: str | os.PathLike) -> bool:
    """True when this process is ``colorization resume`` continuing the sweep in ``sweep_dir``."""
    target = os.environ.get(RESUME_ENV)
    return bool(target) and Path(target).resolve() == Path(sweep_dir).resolve()


def read_record(sweep_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The sweep's ``sweep.json`` as a dict; ``None`` when there is none (or it cannot be read as JSON)."""
    try:
        data = json.loads((Path(sweep_dir) / SWEEP_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sweep_jobs_in(sweep_dir: Path) -> list[str]:
    """Names of the job dirs a sweep left in ``sweep_dir`` (numbered dirs with a status file or ``.hydra``)."""
    try:
        entries = list(sweep_dir.iterdir()) if sweep_dir.is_dir() else []
    except OSError:  # unreadable: the writability check that follows names the dir and the reason
        return []
    return sorted((p.name for p in entries if p.is_dir() and p.name.isdigit()
                   and ((p / STATUS_FILE).exists() or (p / ".hydra").is_dir())), key=int)


def lock_holder(sweep_dir: Path) -> str | None:
    """``"pid N on HOST"`` when a running process holds the dir's lock (``"another process"`` when it wrote no
    name), ``None`` when it is free. Creates nothing: a dir without a lock file is free."""
    path = sweep_dir / LOCK_FILE
    if sweep_dir.resolve() in _held:
        return None
    try:
        f = path.open("r")
    except OSError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return f.read().strip() or "another process"
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def _acquire(sweep_dir: Path) -> bool:
    """Take the dir's lock for this process (kept until it ends); False when another process holds it."""
    key = sweep_dir.resolve()
    if key in _held:
        return True
    f = (sweep_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return False
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    f.flush()
    _held[key] = f
    return True


def release(sweep_dir: Path) -> None:
    f = _held.pop(sweep_dir.resolve(), None)
    if f is not None:
        f.close()  # closing the file drops the flock


def _driver_command() -> list[str]:
    """How this driver was started, to start it again: ``[script, *args]`` or ``["-m", module, *args]``."""
    from colorization.distributed.command import driver_argv

    return driver_argv()


def _new_record(config: DictConfig, sweep_dir: Path) -> dict[str, Any]:
    from colorization.runs.job import timestamp

    choices = OmegaConf.select(config, "hydra.runtime.choices", default={}) or {}
    return {"format_version": RECORD_VERSION, "id": uuid.uuid4().hex, "sweep_dir": str(sweep_dir),
            "command": _driver_command(), "cwd": os.getcwd(), "launcher": choices.get("hydra/launcher"),
            "sweeper": choices.get("hydra/sweeper"), "started_at": timestamp(), "resumed_at": [], "jobs": {}}


def record_jobs(sweep_dir: str | os.PathLike, jobs: list[tuple[int, list[str], Path]]) -> None:
    """Add launched jobs (number, overrides, dir) to the sweep's record; a job already there keeps its entry."""
    sweep_dir = Path(sweep_dir)
    record = read_record(sweep_dir)
    if record is None:  # a launcher used without the guard (a test's own Hydra config): nothing to continue from
        return
    for idx, overrides, directory in jobs:
        entry = {"overrides": list(overrides), "dir": os.path.relpath(directory, sweep_dir)}
        record["jobs"].setdefault(str(idx), entry)
    write_json(sweep_dir / SWEEP_FILE, record)


def _refuse(sweep_dir: Path, reason: str) -> SweepDirRefused:
    return SweepDirRefused(f"hydra.sweep.dir={sweep_dir} {reason}: continue it with `python -m colorization resume "
                           f"{sweep_dir}` once it has stopped, or set hydra.sweep.dir to a new dir")


def claim_sweep_dir(config: DictConfig) -> Path:
    """Check and lock the sweep dir of the multirun ``config`` describes (see the module's doc); return it."""
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    if resuming(sweep_dir):
        record = read_record(sweep_dir)
        if record is None:
            raise SweepDirRefused(f"{sweep_dir} has no readable {SWEEP_FILE}: it is not a sweep this project "
                                  "started, so there is nothing to resume")
        if not _acquire(sweep_dir):
            raise _refuse(sweep_dir, f"is in use by a running sweep ({lock_holder(sweep_dir)})")
        from colorization.runs.job import timestamp

        record["resumed_at"] = [*record.get("resumed_at", []), timestamp()]
        write_json(sweep_dir / SWEEP_FILE, record)
        return sweep_dir
    holder = lock_holder(sweep_dir)
    if holder is not None:
        raise _refuse(sweep_dir, f"is in use by a running sweep ({holder})")
    if (sweep_dir / SWEEP_FILE).exists() or sweep_jobs_in(sweep_dir) or (sweep_dir / "multirun.yaml").exists():
        raise _refuse(sweep_dir, f"already holds a sweep ({len(sweep_jobs_in(sweep_dir))} job dirs)")
    check_writable_dir(sweep_dir, "sweep", "hydra.sweep.dir")
    if not _acquire(sweep_dir):  # another sweep took it between the look and here
        raise _refuse(sweep_dir, f"is in use by a running sweep ({lock_holder(sweep_dir)})")
    write_json(sweep_dir / SWEEP_FILE, _new_record(config, sweep_dir))
    return sweep_dir


class SweepDirGuard(Callback):
    """Hydra callback: when a multirun starts, the launcher must be usable here
    (:func:`colorization.runs.launcher_check.check_launcher`) and the sweep dir free (:func:`claim_sweep_dir`);
    otherwise one line and exit code 1, before the sweeper, Ray or submitit start."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_launcher(config)
        claim_sweep_dir(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(Path(str(config.hydra.sweep.dir)).absolute())
