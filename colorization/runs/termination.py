"""A job that a signal ends is a job that did not succeed: SIGTERM (a scheduler, ``kill``) and SIGINT (Ctrl-C).

While a job runs, :class:`SignalWatch` is the handler of both signals. It works with Lightning rather than around
it: during ``trainer.fit``/``test`` Lightning's own SIGTERM handler (``_SignalConnector``) calls the handler it
found installed, so the watch only records the signal there, and Lightning stops at the next batch boundary
(``SIGTERMException``, after its ``on_exception`` callbacks, the loggers' ``finalize("failed")`` and, under DDP,
killing the child ranks). Outside Lightning (building the data, the model, writing files) nobody else would stop,
so the watch raises :class:`JobTerminated` at once. SIGINT becomes the usual ``KeyboardInterrupt``, which Lightning
turns into its graceful shutdown and ``sys.exit(1)``; the recorded signal says what really happened.

SLURM's pre-emption and time-limit warnings are left alone: submitit's handler (SIGUSR2 unless
``SUBMITIT_PREEMPT_SIGNAL`` says otherwise; ``hydra/launcher=slurm`` asks SLURM for it ``signal_delay_s`` early)
and Lightning's ``SLURMEnvironment(auto_requeue=True)`` one (SIGUSR1) requeue the job; handling either here would
stop them from being installed. A job that SLURM requeued is not a failure: :func:`slurm_requeue` tells.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)

WATCHED = (signal.SIGTERM, signal.SIGINT)
# Seconds to wait for ``scontrol`` when asking whether SLURM requeued the job (a busy controller answers slowly).
SCONTROL_TIMEOUT_S = 20


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


def slurm_requeue() -> str | None:
    """``"SLURM job <id> requeued (restart <n>)"`` when SLURM has requeued the job this process runs in since it
    started, else ``None`` (not under SLURM, never requeued, or ``scontrol`` could not say).

    A requeue (submitit's pre-emption/time-out handler, Lightning's auto-requeue, ``scontrol requeue``) raises the
    job's restart count at once, while the job still runs and is being stopped; the run started with the count in
    ``SLURM_RESTART_COUNT`` (unset: 0). So a count above that one means the job will run again, from the start
    of its batch script (``ckpt_path=last`` then resumes it).
    """
    job_id = os.environ.get("SLURM_JOB_ID")
    if not job_id:
        return None
    count = os.environ.get("SLURM_RESTART_COUNT", "")
    started_at = int(count) if count.isdigit() else 0
    try:
        out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True,
                             timeout=SCONTROL_TIMEOUT_S, check=False).stdout
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("could not ask SLURM whether job %s was requeued: %s", job_id, e)
        return None
    fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    restarts = fields.get("Restarts", "")
    if not restarts.isdigit() or int(restarts) <= started_at:
        return None
    array_id, task_id = fields.get("ArrayJobId"), fields.get("ArrayTaskId", "")
    name = f"{array_id}_{task_id}" if array_id and task_id.isdigit() else job_id
    return f"SLURM job {name} requeued (restart {restarts})"
