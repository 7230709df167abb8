"""The launcher of :class:`~colorization.distributed.strategy.JobDDPStrategy`: one child per extra local rank.

It is Lightning's ``_SubprocessScriptLauncher`` (private API: Lightning's minor version is pinned and
``tests/test_ddp.py`` guards the methods used here) with three changes: a child runs a single run of the current
Hydra job (:func:`~colorization.distributed.command.child_command`), a child dies with its parent
(``PR_SET_PDEATHSIG``), and a :class:`~colorization.distributed.watchdog.ChildWatchdog` watches the children
only for as long as the job runs. Launched launchers are listed in ``ACTIVE`` for the job boundary to shut down.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from lightning.fabric.plugins import ClusterEnvironment
from lightning.fabric.strategies.launchers.subprocess_script import _basic_subprocess_cmd
from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

from colorization.distributed.command import child_command
from colorization.distributed.watchdog import ChildWatchdog, stop_processes

log = logging.getLogger(__name__)

ACTIVE: list[JobScriptLauncher] = []
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn``: the kernel SIGKILLs the child when the thread that started it ends (Linux only)."""

    def preexec() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class JobScriptLauncher(_SubprocessScriptLauncher):
    """Starts local ranks ``1..num_processes-1`` as single runs of the current job, and stops them on request.

    Args:
        cluster_environment, num_processes, num_nodes: as Lightning's launcher.
        watchdog_poll_s: seconds between the watchdog's polls of the children.
        kill_grace_s: seconds a child gets between SIGTERM and SIGKILL when it must be stopped.
        reap_wait_s: seconds the children get to finish after rank 0 finished the job without error.
        on_failure: called from the watchdog thread after a child failed (e.g. to abort a NCCL group).
    """

    def __init__(self, cluster_environment: ClusterEnvironment, num_processes: int, num_nodes: int,
                 watchdog_poll_s: float = 1.0, kill_grace_s: float = 5.0, reap_wait_s: float = 60.0,
                 on_failure: Callable[[], None] | None = None) -> None:
        super().__init__(cluster_environment, num_processes, num_nodes)
        self.watchdog_poll_s = watchdog_poll_s
        self.kill_grace_s = kill_grace_s
        self.reap_wait_s = reap_wait_s
        self.on_failure = on_failure
        self.watchdog: ChildWatchdog | None = None

    def launch(self, function: Callable, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        # After the first launch LOCAL_RANK is set, so fit() launches and a later test() only runs.
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
            self.watchdog = ChildWatchdog(self.procs, self.watchdog_poll_s, self.kill_grace_s, self.on_failure)
            self.watchdog.start()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)

    def _call_children_scripts(self) -> None:
        from hydra.core.hydra_config import HydraConfig

        self._check_can_spawn_children()
        self.procs = []
        env = self.cluster_environment
        os.environ["MASTER_ADDR"] = env.main_address
        os.environ["MASTER_PORT"] = str(env.main_port)
        os.environ["NODE_RANK"] = str(env.node_rank())
        os.environ["LOCAL_RANK"] = str(env.local_rank())
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        preexec = _die_with_parent(os.getpid()) if sys.platform == "linux" else None
        ACTIVE.append(self)
        for local_rank in range(1, self.num_processes):
            child_env = os.environ.copy()
            child_env["LOCAL_RANK"] = str(local_rank)
            if HydraConfig.initialized():
                command, cwd = child_command(local_rank)
            else:
                command, cwd = list(_basic_subprocess_cmd()), None
            log.info("starting local rank %d: %s", local_rank, " ".join(command))
            self.procs.append(subprocess.Popen(command, env=child_env, cwd=cwd, preexec_fn=preexec))

    def shutdown(self, job_ok: bool) -> tuple[list[tuple[int, int]], list[int]]:
        """Stop the watchdog, let the children finish, stop the rest; return the ranks that failed.

        After a good job the children get ``reap_wait_s`` seconds to exit; after a failed one only
        ``kill_grace_s`` (a child that raised exits at once; one stuck in a collective never does).
        Returns ``(failed, stopped)``: ``(local rank, exit code)`` of the children that exited non-zero by
        themselves (a cause), and the local ranks that had to be stopped here (they did not finish their part).
        """
        if self.watchdog is not None:
            self.watchdog.stop()
        failed = list(self.watchdog.failed) if self.watchdog is not None else []
        wait_s = self.reap_wait_s if job_ok else self.kill_grace_s
        stopped: list[int] = []
        for rank, proc in enumerate(self.procs, start=1):
            try:
                code = proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                if job_ok:
                    log.error("rank %d still running %.0f s after rank 0 finished; stopping it", rank, wait_s)
                stop_processes([proc], self.kill_grace_s)
                stopped.append(rank)
                continue
            if code != 0 and all(r != rank for r, _ in failed):
                failed.append((rank, code))
        if self in ACTIVE:
            ACTIVE.remove(self)
        return failed, stopped
