"""A sweep dir read back: one row per job from its ``job_status.json``, and each job's per-image test metrics.

Every launcher leaves the same files in a job's run dir (see :mod:`colorization.runs.job`): ``job_status.json``
(status, error, overrides, model and loss choices, ``seed``, ``encoder_weights``, metrics) and, when the job tested,
``test_images.csv`` (one row per test image: ``image`` id, then ``psnr, psnr_gray, ssim, ...``). This module only
reads them; :mod:`colorization.reports.sweep_groups` turns them into statistics.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from colorization.runs.status import STATUS_FILE

# Test metrics in the job table, with whether higher is better (for the sign of "better" in deltas).
METRICS = {"test/psnr": True, "test/ssim": True, "test/cf": True, "test/dcf": False, "test/auc": True}
GRAY = ("test/psnr_gray", "test/ssim_gray", "test/cf_gray", "test/dcf_gray", "test/auc_gray")
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


def _override_key(override: str) -> str:
    """``+seed=3`` -> ``seed``; ``model.width=8`` -> ``model.width``."""
    return override.split("=", 1)[0].lstrip("+~")


def seed_of(status: dict[str, Any]) -> Any:
    """The job's seed: ``job_status.json``'s ``seed``, else a ``seed=`` override, else ``None``."""
    if status.get("seed") is not None:
        return status["seed"]
    for override in status.get("overrides", []):
        if _override_key(override) == "seed" and "=" in override:
            value = override.split("=", 1)[1]
            return int(value) if value.lstrip("-").isdigit() else value
    return None


def group_key(overrides: list[str]) -> str:
    """What a job's configuration is, apart from its seed: its overrides without ``seed=...`` (nor ``ckpt_path=``:
    where a resumed job continued from is no part of what it is)."""
    return " ".join(o for o in overrides if _override_key(o) not in ("seed", "ckpt_path"))


def _read_status(job_dir: Path) -> dict[str, Any]:
    status_path = job_dir / STATUS_FILE
    if status_path.exists():
        return json.loads(status_path.read_text())
    status: dict[str, Any] = {"status": "incomplete", "error": "no job_status.json (killed or still running?)"}
    overrides = job_dir / ".hydra" / "overrides.yaml"
    if overrides.exists():  # what the job was asked to run, so it still joins its group's failure count
        from omegaconf import OmegaConf

        status["overrides"] = [str(o) for o in OmegaConf.load(overrides)]
    return status


def _images_path(job_dir: Path, status: dict[str, Any]) -> str:
    """The job's ``test_images.csv``: beside its status file (a sweep dir may have moved), else where the status
    says; ``""`` when there is none (failed, or a sweep from before per-image metrics)."""
    named = status.get("test_images")
    for candidate in (job_dir / IMAGES_FILE, Path(named) if named else None):
        if candidate is not None and candidate.is_file():
            return str(candidate)
    return ""


def collect_rows(sweep_dir: str | Path, baseline_model: str = "vanilla") -> list[dict[str, Any]]:
    """One dict per job dir: job, overrides, status, error, seed, encoder_weights, test metrics, gray floor,
    best_ckpt, test_images (path or ``""``), wall time, group (overrides without the seed), and deltas against the
    baseline job of the same loss (``Δpsnr_vs_<baseline>``...; ``None`` where there is none)."""
    rows = []
    for job_dir in job_dirs(Path(sweep_dir)):
        st = _read_status(job_dir)
        metrics = st.get("metrics") or {}
        row: dict[str, Any] = {
            "job": job_dir.name,
            "overrides": " ".join(st.get("overrides", [])),
            "model": st.get("model"),
            "loss": st.get("loss"),
            "seed": seed_of(st),
            "encoder_weights": st.get("encoder_weights"),
            "status": st.get("status"),
            "error": st.get("error", ""),
            "world_size": st.get("world_size", ""),
            "num_nodes": st.get("num_nodes", ""),
        }
        for k in list(METRICS) + list(GRAY):
            row[k] = metrics.get(k)
        row["best_ckpt"] = st.get("best_ckpt", "")
        row["test_images"] = _images_path(job_dir, st) if st.get("status") == "ok" else ""
        row["wall_time_s"] = st.get("wall_time_s")
        row["group"] = group_key(st.get("overrides", []))
        rows.append(row)

    # Change against the baseline job with the same loss and seed, else the first ok one with the same loss.
    baselines: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if row["model"] == baseline_model and row["status"] == "ok":
            baselines.setdefault((row["loss"], row["seed"]), row)
            baselines.setdefault(row["loss"], row)
    for row in rows:
        base = baselines.get((row["loss"], row["seed"]), baselines.get(row["loss"]))
        for k in METRICS:
            ok = base is not None and row[k] is not None and base[k] is not None
            row[f"Δ{k.split('/')[1]}_vs_{baseline_model}"] = row[k] - base[k] if ok else None
    return rows
