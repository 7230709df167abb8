"""Which process a job runs in, recorded when it starts, and whether that process still exists.

A job's status says ``running`` from its start to its end; a driver killed with ``kill -9`` (or a node that died)
leaves it so. To tell such a job from one that really runs, the status records the host, the pid and the pid's
start time (field 22 of ``/proc/<pid>/stat``, clock ticks since boot: a reused pid has another), and under SLURM
the job id (asked of ``squeue``), under Ray the node.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Seconds to wait for ``squeue`` when asking whether a SLURM job still exists (a busy controller answers slowly).
SQUEUE_TIMEOUT_S = 20


def process_started(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22); ``None`` when
    there is no such process or no ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def _ray_node_id() -> str | None:
    ray = sys.modules.get("ray")  # only inside a Ray worker is Ray imported; never import it here
    try:
        return str(ray.get_runtime_context().get_node_id()) if ray is not None and ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - a diagnostic field: a Ray that cannot say leaves it empty
        return None


def this_process() -> dict[str, Any]:
    """The ``job_status.json`` fields that name this process: ``node``, ``pid``, ``process_started``,
    ``slurm_job_id`` and ``ray_node_id`` (``None`` where not under SLURM or Ray)."""
    return {"node": socket.gethostname(), "pid": os.getpid(), "process_started": process_started(os.getpid()),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "ray_node_id": _ray_node_id()}


def _slurm_job_alive(job_id: str) -> bool | None:
    try:
        proc = subprocess.run(["squeue", "-h", "-o", "%T", "-j", job_id], capture_output=True, text=True,
                              timeout=SQUEUE_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("could not ask SLURM about job %s: %s", job_id, e)
        return None
    if proc.returncode != 0:  # squeue refuses a job id it no longer knows: the job is gone
        return False if "Invalid job id" in proc.stderr else None
    return bool(proc.stdout.strip())


def still_running(node: str | None, pid: int | None, started: int | None, slurm_job_id: str | None) -> bool | None:
    """Whether the process a ``running`` status names still exists: ``True``, ``False``, or ``None`` when this
    machine cannot tell (another host, and no SLURM job to ask about).

    A SLURM job is asked of ``squeue``; a process on this host is looked up by pid and start time.
    """
    if slurm_job_id:
        alive = _slurm_job_alive(slurm_job_id)
        if alive is not None:
            return alive
    if node != socket.gethostname() or pid is None:
        return None
    now = process_started(pid)
    return now is not None and (started is None or now == started)
