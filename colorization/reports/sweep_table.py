"""A sweep dir read back: one row per job from its ``job_status.json``, and each job's per-image test metrics.

Every launcher leaves the same files in a job's run dir (see :mod:`colorization.runs.job`): ``job_status.json``
(status, error, overrides, model and loss choices, ``seed``, ``encoder_weights``, metrics) and, when the job tested,
``test_images.csv`` (one row per test image: ``image`` id, then ``psnr, psnr_gray, ssim, ...``). This module only
reads them; :mod:`colorization.reports.sweep_groups` turns them into statistics.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from colorization.reports.metric_names import METRICS
from colorization.runs.status import STATUS_FILE, JobStatus

# The test metrics of the job table (metrics.json keys), their gray floors, and the best validation PSNR.
TEST_METRICS = tuple(f"test/{m}" for m in METRICS)
GRAY = tuple(f"{k}_gray" for k in TEST_METRICS)
BEST_VAL = "val/psnr_best"
IMAGES_FILE = "test_images.csv"


@dataclass(frozen=True)
class ImageMetrics:
    """One job's ``test_images.csv``: ``ids`` (n image ids, stored order) and ``values[key]`` float64 ``[n]``."""

    ids: list[str]
    values: dict[str, np.ndarray]

    def by_id(self, key: str) -> dict[str, float]:
        return dict(zip(self.ids, self.values[key].tolist(), strict=True))


def read_image_metrics(path: str | Path) -> ImageMetrics:
    """Parse a ``test_images.csv`` (header ``image,<metric>,...``; values as floats, ``nan``/``inf`` allowed)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or not rows[0] or rows[0][0] != "image":
        raise ValueError(f"{path}: expected a header starting with 'image'")
    header, body = rows[0], [r for r in rows[1:] if r]
    values = {key: np.array([float(r[j]) for r in body], dtype=np.float64) for j, key in enumerate(header) if j}
    return ImageMetrics([r[0] for r in body], values)


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's job dirs (any dir with a status file or a ``.hydra`` folder), in job-number order."""
    dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and ((p / STATUS_FILE).exists() or (p / ".hydra").exists())]

    def key(p: Path) -> tuple[int, str]:
        return (int(p.name), p.name) if p.name.isdigit() else (1 << 30, p.name)

    return sorted(dirs, key=key)


@functools.cache
def _parser() -> OverridesParser:
    return OverridesParser.create()


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """Hydra override strings -> ``{key: value}`` by Hydra's own parser (``+seed=3`` -> ``{"seed": 3}``,
    ``model=unet`` -> ``{"model": "unet"}``; a deletion ``~key`` is left out). An override Hydra cannot parse
    (a hand-edited status file) is left out too."""
    parser = _parser()
    out: dict[str, Any] = {}
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([str(text)])
        except HydraException:
            continue
        if not override.is_delete():
            out[override.key_or_group] = override.value()
    return out


def seed_of(status: JobStatus) -> Any:
    """The job's seed: ``job_status.json``'s ``seed``, else a ``seed=`` override, else ``None``."""
    if status.seed is not None:
        return status.seed
    return parse_overrides(status.overrides).get("seed")


# Overrides that say where a job ran from, not what it is: its seed, and where a resumed job continued from.
_NOT_CONFIGURATION = ("seed", "ckpt_path")


def group_key(overrides: Sequence[str]) -> str:
    """What a job's configuration is, apart from its seed: its overrides without ``seed=...`` (nor ``ckpt_path=``:
    where a resumed job continued from is no part of what it is)."""
    return " ".join(o for o in overrides if not set(parse_overrides([o])) & set(_NOT_CONFIGURATION))


def read_status(job_dir: Path) -> JobStatus:
    """The job's status; without a readable ``job_status.json`` an ``incomplete`` one carrying the overrides the
    job was asked to run (``.hydra/overrides.yaml``), so it still joins its group's failure count."""
    status = JobStatus.read(job_dir)
    if status is not None:
        return status
    status = JobStatus("incomplete", error=f"no readable {STATUS_FILE} (killed or still running?)")
    overrides = job_dir / ".hydra" / "overrides.yaml"
    if overrides.exists():
        from omegaconf import OmegaConf

        status.overrides = [str(o) for o in OmegaConf.load(overrides)]
    return status


def best_checkpoint(job_dir: Path, status: JobStatus) -> Path | None:
    """The job's best checkpoint: where its status says, else the same file name under the job dir's
    ``checkpoints/`` (a sweep dir copied or moved keeps its layout but not its absolute paths); ``None``
    without one on disk."""
    if not status.best_ckpt:
        return None
    named = Path(status.best_ckpt)
    for candidate in (named, job_dir / "checkpoints" / named.name):
        if candidate.is_file():
            return candidate
    return None


def _images_path(job_dir: Path, status: JobStatus) -> str:
    """The job's ``test_images.csv``: beside its status file (a sweep dir may have moved), else where the status
    says; ``""`` when there is none (failed, or a sweep from before per-image metrics)."""
    named = status.test_images
    for candidate in (job_dir / IMAGES_FILE, Path(named) if named else None):
        if candidate is not None and candidate.is_file():
            return str(candidate)
    return ""


def collect_rows(sweep_dir: str | Path, baseline_model: str = "vanilla") -> list[dict[str, Any]]:
    """One dict per job dir: job, overrides, status, error, seed, encoder_weights, test metrics, gray floor,
    best val PSNR, best_ckpt (found on disk where the job dir is, else as written), test_images (path or ``""``), wall
    time, start time, group (overrides without the seed), and deltas against the
    baseline job of the same loss (``Δpsnr_vs_<baseline>``...; ``None`` where there is none)."""
    rows = []
    for job_dir in job_dirs(Path(sweep_dir)):
        st = read_status(job_dir)
        row: dict[str, Any] = {
            "job": job_dir.name,
            "overrides": " ".join(st.overrides),
            "model": st.model,
            "loss": st.loss,
            "seed": seed_of(st),
            "encoder_weights": st.encoder_weights,
            "status": st.status,
            "error": st.error or "",
            "world_size": "" if st.world_size is None else st.world_size,
            "num_nodes": "" if st.num_nodes is None else st.num_nodes,
        }
        for k in (*TEST_METRICS, *GRAY, BEST_VAL):
            row[k] = st.metrics.get(k)
        best = best_checkpoint(job_dir, st)
        row["best_ckpt"] = str(best) if best else (st.best_ckpt or "")
        row["test_images"] = _images_path(job_dir, st) if st.ok else ""
        row["wall_time_s"] = st.wall_time_s
        row["started_at"] = st.started_at or ""
        row["group"] = group_key(st.overrides)
        rows.append(row)

    # Change against the baseline job with the same loss and seed, else the first ok one with the same loss.
    baselines: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if row["model"] == baseline_model and row["status"] == "ok":
            baselines.setdefault((row["loss"], row["seed"]), row)
            baselines.setdefault(row["loss"], row)
    for row in rows:
        base = baselines.get((row["loss"], row["seed"]), baselines.get(row["loss"]))
        for k in TEST_METRICS:
            ok = base is not None and row[k] is not None and base[k] is not None
            row[f"Δ{k.split('/')[1]}_vs_{baseline_model}"] = row[k] - base[k] if ok else None
    return rows
