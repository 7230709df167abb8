"""A job that a signal ends is a job that did not succeed: SIGTERM (a scheduler, ``kill``) and SIGINT (Ctrl-C).

While a job runs, :class:`SignalWatch` is the handler of both signals. It works with Lightning rather than around
it: during ``trainer.fit``/``test`` Lightning's own SIGTERM handler (``_SignalConnector``) calls the handler it
found installed, so the watch only records the signal there, and Lightning stops at the next batch boundary
(``SIGTERMException``, after its ``on_exception`` callbacks, the loggers' ``finalize("failed")`` and, under DDP,
killing the child ranks). Outside Lightning (building the data, the model, writing files) nobody else would stop,
so the watch raises :class:`JobTerminated` at once. SIGINT becomes the usual ``KeyboardInterrupt``, which Lightning
turns into its graceful shutdown and ``sys.exit(1)``; the recorded signal says what really happened.

SIGUSR1 (SLURM's pre-emption warning, handled by Lightning's ``SLURMEnvironment(auto_requeue=True)`` or by submitit)
is left alone: handling it here would stop Lightning from installing its requeue handler.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)

WATCHED = (signal.SIGTERM, signal.SIGINT)


def exit_code_for(signum: int) -> int:
    """The shell's convention for a process ended by a signal: ``128 + signum`` (SIGTERM 143, SIGINT 130)."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    """``SIGTERM``, ``SIGINT``, ... (``signal <n>`` for a number Python has no name for)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class JobTerminated(SystemExit):
    """The job (or the sweep) was ended by ``signum``; as a ``SystemExit`` the process exits ``128 + signum``
    wherever nothing catches it, and Hydra's job wrapper (which catches only ``Exception``) lets it through."""

    def __init__(self, signum: int) -> None:
        super().__init__(exit_code_for(signum))
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"terminated by {signal_name(self.signum)}"


class SignalWatch:
    """Context manager: SIGTERM and SIGINT handlers for the duration of a job (or a sweep), restored on exit.

    ``signum`` is the first watched signal received (``None``: none). Handlers can only be set from the main
    thread; elsewhere (a Ray worker thread, a test's thread) the watch records nothing and changes nothing.
    After :meth:`quiet` a further signal is only recorded, so the status file and the W&B run still get written
    while a second Ctrl-C or a scheduler's repeated SIGTERM arrives.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._quiet = False

    def __enter__(self) -> SignalWatch:
        if threading.current_thread() is threading.main_thread():
            for signum in WATCHED:
                self._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            # Lightning leaves SIGINT ignored after a Ctrl-C; the next job (and the shell) get theirs back.
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def quiet(self) -> None:
        """From now on only record signals: the job is already stopping."""
        self._quiet = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            log.warning("received %s: stopping the job", signal_name(signum))
        if self._quiet:
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        if signal.getsignal(signum) != self._handle:
            return  # Lightning's handler called this one: Lightning stops at the next batch boundary
        raise JobTerminated(signum)
