"""A stoppable watchdog over a job's child ranks, in place of Lightning's child-process observer.

Lightning's observer is a thread that lives as long as the process and SIGKILLs the *main* process when any child
exits non-zero — in a sweep that kills the whole sweep, and it even fires after a job's own cleanup killed a child
on purpose. This one only acts while its job runs: when a child fails it stops the sibling children (they would
wait forever in a collective) and calls ``on_failure`` (the strategy aborts a NCCL process group there), so rank 0
gets an error, the job is marked failed and the sweep goes on. The job boundary stops it before any cleanup.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


def stop_processes(procs: Sequence[subprocess.Popen], grace_s: float) -> None:
    """SIGTERM every live process, wait up to ``grace_s`` seconds in all, then SIGKILL the rest and reap them."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        p.terminate()
    for p in live:
        try:
            p.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class ChildWatchdog(threading.Thread):
    """Polls ``procs`` every ``poll_s`` seconds until :meth:`stop`; on a non-zero exit, stops the others.

    Args:
        procs: the child ranks (rank ``i + 1`` is ``procs[i]``).
        poll_s: seconds between polls.
        grace_s: seconds a sibling gets between SIGTERM and SIGKILL.
        on_failure: called once, from this thread, after a child failed and its siblings were stopped.
    """

    def __init__(self, procs: Sequence[subprocess.Popen], poll_s: float = 1.0, grace_s: float = 5.0,
                 on_failure: Callable[[], None] | None = None) -> None:
        super().__init__(daemon=True, name="colorization-child-watchdog")
        self.procs = list(procs)
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.on_failure = on_failure
        self.failed: list[tuple[int, int]] = []  # (rank, exit code) of the children that failed
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Stop watching (idempotent); returns once the thread has ended."""
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()

    def run(self) -> None:
        while not self._stop_event.wait(self.poll_s):
            codes = [p.poll() for p in self.procs]
            bad = [(rank, code) for rank, code in enumerate(codes, start=1) if code not in (None, 0)]
            if bad:
                self.failed = bad
                log.error("rank %d exited with code %d; stopping the other ranks of this job", *bad[0])
                stop_processes(self.procs, self.grace_s)
                if self.on_failure is not None:
                    self.on_failure()
                return
            if all(code == 0 for code in codes):
                return
