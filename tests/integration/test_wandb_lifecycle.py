"""A W&B run ends with its job's real exit code, and a job that resumes in the same run dir continues its W&B run.

Read back from the offline run files (``<run dir>/wandb/offline-run-*/run-*.wandb``): the ``exit`` record's
``exit_code`` (0 ok, 1 failed, 128 + signum terminated; W&B shows a non-zero one as failed), the run id, and the
``history`` records' epochs.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import lightning as L
import pytest

from colorization.runs.status import STATUS_FILE
from tests.support.entry_points import read_json
from tests.support.wandb_files import wandb_records


class CrashAfterFirstEpoch(L.Callback):
    """Raises when the first training epoch ends: a job that fails with its W&B run open (``optimizer.lr=-1`` is
    refused while the config is read, before any run opens)."""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise RuntimeError("crashed after epoch 0")


class SigtermAfterFirstEpoch(L.Callback):
    """Sends this process SIGTERM when the first training epoch ends, as a scheduler would mid-run."""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 0:
            os.kill(os.getpid(), signal.SIGTERM)


def _records(run_dir: Path, kind: str, timeout_s: float = 60.0) -> list:
    """The ``kind`` records (``exit``, ``history``, ``run``) of ``run_dir``'s one offline run file, once W&B's
    service has written its exit record (it writes the file behind the run)."""
    (wandb_file,) = run_dir.glob("run-*.wandb")
    deadline = time.monotonic() + timeout_s
    while True:
        records = list(wandb_records(wandb_file))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return [r for r in records if r.WhichOneof("record_type") == kind]
        time.sleep(0.5)


def _trained_epochs(run_dir: Path) -> set[int]:
    """The epochs whose training loss the run's history holds (``train/loss_epoch`` rows' ``epoch``)."""
    epochs = set()
    for record in _records(run_dir, "history"):
        items = {item.key or "/".join(item.nested_key): item.value_json for item in record.history.item}
        if "train/loss_epoch" in items:
            epochs.add(int(float(items["epoch"])))
    return epochs


def _exit_code(job_dir: Path) -> int:
    (run,) = (job_dir / "wandb").glob("offline-run-*")
    (record,) = _records(run, "exit")
    return record.exit.exit_code


@pytest.mark.slow
def test_failed_job_closes_its_wandb_run_with_exit_code_1(train_job, tmp_path):
    with pytest.raises(RuntimeError, match="crashed after epoch 0"):
        train_job("model=vanilla", "logger=wandb", f"+callbacks.crash._target_={__name__}.CrashAfterFirstEpoch")
    assert read_json(tmp_path / "run" / STATUS_FILE)["status"] == "failed"
    assert _exit_code(tmp_path / "run") == 1


@pytest.mark.slow
def test_terminated_job_closes_its_wandb_run_with_128_plus_signum(train_job, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        train_job("model=vanilla", "logger=wandb", "trainer.max_epochs=5",
                  f"+callbacks.sigterm._target_={__name__}.SigtermAfterFirstEpoch")
    assert stopped.value.code == 128 + signal.SIGTERM
    assert read_json(tmp_path / "run" / STATUS_FILE)["status"] == "terminated"
    assert _exit_code(tmp_path / "run") == 143


@pytest.mark.slow
def test_ok_job_closes_with_0_and_a_resumed_job_continues_the_same_run(train_job, tmp_path):
    train_job("model=vanilla", "logger=wandb", "trainer.max_epochs=1")
    run_id = (tmp_path / "run" / "wandb" / "run_id").read_text().strip()
    train_job("model=vanilla", "logger=wandb", "trainer.max_epochs=2", "ckpt_path=last")
    assert (tmp_path / "run" / "wandb" / "run_id").read_text().strip() == run_id
    # Offline, W&B writes each process's part of a run to a dir of its own, both named by the run's id; `wandb sync`
    # of both uploads them into the one run.
    runs = sorted((tmp_path / "run" / "wandb").glob("offline-run-*"))
    # offline-run-<date>_<time>-<id>, and "-1" after it when both started within the same second.
    assert [re.fullmatch(r"offline-run-\d{8}_\d{6}-(\w+?)(-\d+)?", r.name)[1] for r in runs] == [run_id, run_id]
    for part, epochs in zip(runs, ({0}, {1}), strict=True):
        (run,) = _records(part, "run")
        assert run.run.run_id == run_id
        (end,) = _records(part, "exit")
        assert end.exit.exit_code == 0
        assert _trained_epochs(part) == epochs, part.name
