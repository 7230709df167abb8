"""``job_status.json``: what became of a job, typed; the one reader and writer of the file.

Every launcher leaves one in each job's run dir (:func:`colorization.runs.job.run_job` writes it; a sweep stopped
before a job started writes ``not_run``). The sweep table, the summary, the report and the serve page read it back
through :meth:`JobStatus.read`. The file is strict JSON (no NaN), written atomically.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorization.io.json_files import write_json

__all__ = ["FINISHED", "STATUS_FILE", "STATUSES", "JobStatus"]

STATUS_FILE = "job_status.json"
# ok: finished; failed: an error; diverged: the loss became NaN or infinite; terminated: SIGTERM/SIGINT;
# requeued: SLURM runs it again; not_run: the sweep stopped before it started; running: started, not ended
# (a status left "running" by a process that is gone was killed); incomplete: no status file at all.
STATUSES = ("ok", "failed", "diverged", "terminated", "requeued", "not_run", "running", "incomplete")
FINISHED = ("ok",)


@dataclass
class JobStatus:
    """One job's ``job_status.json``. Fields the job did not reach stay ``None``; keys this class does not know
    (a launcher's own) are kept in ``extra`` and written back."""

    status: str
    job_num: int | None = None
    overrides: list[str] = field(default_factory=list)
    output_dir: str | None = None
    model: str | None = None
    loss: str | None = None
    seed: int | None = None
    error: str | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    best_ckpt: str | None = None
    last_ckpt: str | None = None
    test_images: str | None = None
    encoder_weights: str | None = None
    epochs: int | None = None
    report: str | None = None
    world_size: int | None = None
    num_nodes: int | None = None
    visible_devices: str | None = None
    # Where the job's process runs: host name, pid and the pid's start (clock ticks since boot, from /proc), so a
    # resume can tell a `running` job whose process is gone; the SLURM job and the Ray node, where there is one.
    node: str | None = None
    pid: int | None = None
    process_started: int | None = None
    slurm_job_id: str | None = None
    ray_node_id: str | None = None
    # The checkpoint the job continued from (None: a fresh start).
    resumed_from: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    wall_time_s: float | None = None
    requeue: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobStatus:
        """A status from the file's dict; a file without ``status`` reads as ``incomplete``."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.setdefault("status", "incomplete")
        kwargs["overrides"] = [str(o) for o in kwargs.get("overrides") or []]
        kwargs["metrics"] = dict(kwargs.get("metrics") or {})
        return cls(**kwargs, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**data, **self.extra}

    @classmethod
    def read(cls, run_dir: str | Path) -> JobStatus | None:
        """The status in ``run_dir``; ``None`` when there is no readable one (none written, or a torn file)."""
        try:
            data = json.loads((Path(run_dir) / STATUS_FILE).read_text())
        except (OSError, ValueError):
            return None
        return cls.from_dict(data) if isinstance(data, dict) else None

    def write(self, run_dir: str | Path) -> Path:
        """Write ``run_dir/job_status.json`` (strict JSON, atomically); an ``OSError`` names the file."""
        return write_json(Path(run_dir) / STATUS_FILE, self.to_dict())
