"""Which checkpoints ``colorize --serve`` shows, and the label each one gets on the page.

A checkpoint is named by its run's ``job_status.json`` where there is one (``<run>/checkpoints/x.ckpt`` ->
``<run>/job_status.json``: the model and loss choices and the seed), else by the model and loss names stored in
the checkpoint itself. ``--sweep DIR`` takes every job of a sweep that finished ``ok`` with a best checkpoint.
Loading is :func:`colorization.inference.colorizer.load_colorizer`'s, once per checkpoint, before serving.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from colorization.inference.colorizer import Colorizer, load_colorizer
from colorization.reports.sweep_table import best_checkpoint, job_dirs, seed_of
from colorization.runs.status import JobStatus


@dataclass(frozen=True)
class ServedCheckpoint:
    """One column of the page: ``label`` (unique on the page), the checkpoint file and, once loaded, its colorizer."""

    label: str
    ckpt: Path
    colorizer: Colorizer | None = None


def status_label(status: JobStatus) -> str:
    """``"unet_efficientnet_lite0 · l1 · seed 1"`` from a job's status (parts it lacks are left out)."""
    parts = [str(v) for v in (status.model, status.loss) if v]
    seed = seed_of(status)
    if seed is not None:
        parts.append(f"seed {seed}")
    return " · ".join(parts)


def _hparams_label(colorizer: Colorizer) -> str:
    hparams = getattr(colorizer.module, "hparams", {}) or {}
    names = [str((hparams.get(k) or {}).get("name", "")) for k in ("model", "loss")]
    return " · ".join(n for n in names if n)


def sweep_checkpoints(sweep_dir: str | os.PathLike) -> list[ServedCheckpoint]:
    """Every job of ``sweep_dir`` whose status is ``ok`` and whose best checkpoint exists, in job order, labelled
    ``"job N: model · loss · seed S"``. Raises ``FileNotFoundError`` / ``ValueError`` (one sentence) when the
    folder is missing or holds no such job."""
    sweep = Path(sweep_dir)
    if not sweep.is_dir():
        raise FileNotFoundError(f"--sweep {sweep}: no such folder; pass a multirun sweep dir (multirun/<date>/<time>)")
    found = []
    for job_dir in job_dirs(sweep):
        status = JobStatus.read(job_dir)
        if status is None or not status.ok:
            continue
        ckpt = best_checkpoint(job_dir, status)
        if ckpt is not None:
            found.append(ServedCheckpoint(f"job {job_dir.name}: {status_label(status)}", ckpt))
    if not found:
        raise ValueError(f"--sweep {sweep}: no job finished ok with a best checkpoint on disk; nothing to serve")
    return found


def checkpoint_label(ckpt: Path, colorizer: Colorizer) -> str:
    """A ``--ckpt`` file's label: its run's status (model · loss · seed) when the run dir is around it, else the
    model and loss names inside the checkpoint; then the file name."""
    status = JobStatus.read(ckpt.resolve().parent.parent)
    described = status_label(status) if status else _hparams_label(colorizer)
    return f"{described} ({ckpt.name})" if described else ckpt.name


def _unique(labels: Sequence[str]) -> list[str]:
    """Labels made unique by numbering repeats: ``a``, ``a #2``, ``a #3``."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def plan_checkpoints(
    ckpts: Sequence[str | os.PathLike] = (), sweep_dir: str | os.PathLike | None = None
) -> list[ServedCheckpoint]:
    """The ``--ckpt`` files (label still empty: it comes from the loaded checkpoint) then the ok jobs of
    ``--sweep``; raises ``FileNotFoundError`` / ``ValueError`` (one sentence) for a bad sweep or nothing at all."""
    planned = [ServedCheckpoint("", Path(c)) for c in ckpts]
    if sweep_dir is not None:
        planned += sweep_checkpoints(sweep_dir)
    if not planned:
        raise ValueError("nothing to serve: pass --ckpt PATH [PATH ...] or --sweep DIR")
    return planned


def load_checkpoints(planned: Sequence[ServedCheckpoint], device: str = "auto", size: int = 256
                     ) -> list[ServedCheckpoint]:
    """Load each planned checkpoint once and give it a unique label; raises on the first bad one
    (``FileNotFoundError`` / ``ValueError`` / ``RuntimeError`` with the loader's one-sentence message)."""
    loaded = []
    for item in planned:
        colorizer = load_colorizer(item.ckpt, device=device, size=size, batch_size=1)
        loaded.append((item.label or checkpoint_label(item.ckpt, colorizer), item.ckpt, colorizer))
    labels = _unique([label for label, _, _ in loaded])
    return [ServedCheckpoint(label, ckpt, col) for label, (_, ckpt, col) in zip(labels, loaded, strict=True)]
