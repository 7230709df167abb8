"""A user error is one line on the console; its traceback goes to the job's log file only.

A user error is a :class:`~colorization.errors.ConfigError` (or one raised from it: Hydra wraps a constructor's in
its ``InstantiationException``): a bad option, a missing or malformed file, an unusable checkpoint. The console
shows the line that names the option or file and what to do; the job's log file (``<run dir>/train.log``) keeps
the full traceback for whoever needs it. ``HYDRA_FULL_ERROR=1`` puts tracebacks back on the console, as Hydra
does for its own errors. Any other exception is a bug and keeps its traceback everywhere.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from colorization.errors import user_error
from colorization.integrations.known_noise import silence_known_noise

__all__ = ["FILE_ONLY", "log_traceback_to_file", "run_command", "tracebacks_wanted_on_console"]

log = logging.getLogger(__name__)

# `extra=` of a log record the console must not show (see _NotOnConsole).
FILE_ONLY = {"file_only": True}


def tracebacks_wanted_on_console() -> bool:
    """Whether the user asked for every traceback (``HYDRA_FULL_ERROR=1``, Hydra's own switch)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


class _NotOnConsole(logging.Filter):
    """Drops the records logged with ``extra=FILE_ONLY``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


def keep_file_only_records_off_the_console() -> None:
    """Filter :data:`FILE_ONLY` records out of the root logger's console handlers (streams that are not files).
    Hydra configures logging anew for every job, so each job calls this."""
    if tracebacks_wanted_on_console():
        return
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) and not any(
                isinstance(f, _NotOnConsole) for f in handler.filters):
            handler.addFilter(_NotOnConsole())


def log_traceback_to_file(logger: logging.Logger, e: BaseException) -> None:
    """``e``'s full traceback, chained causes included, into the job's log file (not the console)."""
    text = "".join(traceback.format_exception(e)).rstrip()
    logger.error("traceback of the error above:\n%s", text, extra=FILE_ONLY)


def run_command(cfg: DictConfig, task: Callable[[DictConfig], dict[str, Any]]) -> float | None:
    """What a Hydra entry point's ``main`` does: silence the libraries' known-harmless messages
    (:func:`~colorization.integrations.known_noise.silence_known_noise`), :func:`~colorization.runs.job.run_job`
    ``task``, and end a single run that failed with a user error with exit status 1 and no traceback on the
    console (``run_job`` has logged its one line: ``job failed: ConfigError: data.root=/nope: ...``). Bugs
    propagate to Hydra, which prints them."""
    from colorization.runs.job import run_job  # Lightning and torch: imported when a job runs, not for --help

    silence_known_noise()
    keep_file_only_records_off_the_console()
    try:
        return run_job(cfg, task)
    except Exception as e:
        if user_error(e) is None or tracebacks_wanted_on_console():
            raise
        log_traceback_to_file(log, e)
        raise SystemExit(1) from None
