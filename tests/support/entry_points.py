"""Running the real entry points (``train.py``, ``eval.py``) in a subprocess, on tiny settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Small enough for two CPU cores: 32 px crops, few of them, narrow networks, 2 epochs of 2 batches.
TINY = [
    "data.image_size=32",
    "data.batch_size=8",
    "data.sample.crops_per_photo=4",
    "model.width=8",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "trainer.accelerator=cpu",
    "++callbacks.rich_progress_bar=null",
    "++callbacks.rich_model_summary=null",
    "++callbacks.sample_grid.num_images=2",
]


def run_entry(script: str, args: list[str], cwd: Path, data_dir: Path, timeout: int = 600,
              check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "PYTHONUNBUFFERED": "1"}
    env.pop("COLORIZATION_HOME", None)
    cmd = [sys.executable, str(REPO / script), *args, f"paths.data_dir={data_dir}"]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def only_dir(parent: Path) -> Path:
    """The one sweep/run dir under ``parent/<date>/``."""
    dirs = [p for day in parent.iterdir() for p in day.iterdir() if p.is_dir()]
    assert len(dirs) == 1, f"expected one dir under {parent}, got {dirs}"
    return dirs[0]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
