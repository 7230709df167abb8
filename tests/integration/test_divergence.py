"""A run whose loss becomes NaN or infinite stops with status ``diverged`` and says so in one sentence; every JSON
it leaves is strict (issue 22)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.entry_points import TINY, run_entry
from tests.support.in_process import train_in_process

# The training loss, or (when the epoch's last step poisoned the weights) the first validation batch's.
DIVERGED = re.compile(r"the (training|validation) loss diverged "
                      r"\(it was (nan|-?inf|[-0-9.e+]+) at step \d+, epoch \d+\)")
REMEDY = "lower optimizer.lr, train in full precision (trainer.precision=32-true) or check the loss (loss=l1"


def _strict(path: Path) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{path.name} holds {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _json_files(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*.json") if "wandb" not in p.parts]


@pytest.mark.parametrize("callbacks", ["default", "none"])
@pytest.mark.parametrize("lr", ["1e30", "1e6"])
def test_a_diverging_run_ends_diverged_with_strict_json(lr, callbacks, tmp_path, sample_data_dir):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train_in_process([*TINY, "model=vanilla", "logger=csv", f"optimizer.lr={lr}", f"callbacks={callbacks}",
                          "trainer.max_epochs=3"], run_dir, sample_data_dir)
    assert stop.value.code == 1
    status = _strict(run_dir / "job_status.json")
    assert status["status"] == "diverged"
    assert status["error"].startswith("LossDivergedError: ") and REMEDY in status["error"]
    assert DIVERGED.search(status["error"]), status["error"]
    assert status["metrics"] == {}
    for path in _json_files(run_dir):
        _strict(path)  # raises on NaN / Infinity
    assert not (run_dir / "samples").exists() or not any("nan" in p.name for p in (run_dir / "samples").iterdir())


def test_the_command_line_says_diverged_in_one_line(tmp_path, sample_data_dir):
    run_dir = tmp_path / "cli"
    proc = run_entry("train.py", [*TINY, "model=vanilla", "logger=csv", "optimizer.lr=1e30",
                                  f"hydra.run.dir={run_dir}"], tmp_path, sample_data_dir, check=False)
    assert proc.returncode == 1
    console = proc.stdout + proc.stderr
    assert "Traceback" not in console
    lines = [line for line in console.splitlines() if "diverged" in line]
    assert len(lines) == 1 and DIVERGED.search(lines[0]) and "job diverged: LossDivergedError" in lines[0]
    assert _strict(run_dir / "job_status.json")["status"] == "diverged"
