"""An unwritable run dir ends ``train.py`` with one line naming the dir and the fix, and exit code 1 (not Hydra's
"Unable to configure handler 'file'" traceback).

Tests run as root, which ignores permissions, so the unwritable place is a read-only tmpfs mount.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from colorization.runs.run_dir import RunDirCheck, RunDirError
from tests.support.entry_points import REPO


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody, root included, can write into: a read-only tmpfs (skipped where mounting is denied)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root (and as a user, chmod would do)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_train_py_in_a_read_only_home_is_one_line(read_only_dir, tmp_path):
    env = {**os.environ, "COLORIZATION_HOME": str(read_only_dir), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, str(REPO / "train.py"), "trainer.max_epochs=1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and "Unable to configure handler" not in proc.stderr, proc.stderr
    assert lines[-1].startswith(f"cannot write the run dir {read_only_dir}/outputs/"), lines[-1]
    assert lines[-1].endswith(": Read-only file system; set hydra.run.dir=... or COLORIZATION_HOME to a writable "
                              "place"), lines[-1]


def test_the_check_names_the_sweep_dir_for_a_multirun(read_only_dir, tmp_path):
    config = OmegaConf.create({"hydra": {"run": {"dir": str(tmp_path / "fine")},
                                         "sweep": {"dir": str(read_only_dir / "multirun" / "x")}}})
    RunDirCheck().on_run_start(config=config)  # a writable run dir: made, nothing else
    assert (tmp_path / "fine").is_dir() and not any((tmp_path / "fine").iterdir())
    with pytest.raises(RunDirError) as raised:
        RunDirCheck().on_multirun_start(config=config)
    assert str(raised.value) == (f"cannot write the sweep dir {read_only_dir / 'multirun' / 'x'}: Read-only file "
                                 "system; set hydra.sweep.dir=... or COLORIZATION_HOME to a writable place")
    assert raised.value.code != 0
    assert Path(read_only_dir).exists() and not any(Path(read_only_dir).iterdir())
