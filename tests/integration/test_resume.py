"""Resumed runs, in process: ``ckpt_path=last`` continues the run dir's history (every epoch once in
csv/metrics.csv, the best-so-far trackers across the resume), falls back past an unreadable last.ckpt, and a
``ckpt_path`` that cannot be resumed from is one sentence in the job's status before anything trains.
(The pieces alone: tests/unit/test_checkpointing.py. A GAN run resuming: tests/integration/test_gan.py.)"""

from __future__ import annotations

import csv
import json
import logging
import shutil

import pytest
import torch

from colorization.errors import ConfigError
from colorization.io.atomic import TEMP_SUFFIX
from tests.support.entry_points import TINY
from tests.support.in_process import train_in_process

VANILLA_CSV = ["model=vanilla", "logger=csv"]
TRACKED = {"psnr": max, "ssim": max, "auc": max, "dcf": min, "loss": min}


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory, sample_data_dir):
    """A TINY vanilla run of 2 epochs with the CSV logger; tests copy its dir before resuming in it."""
    out = tmp_path_factory.mktemp("two_epochs") / "run"
    train_in_process([*TINY, *VANILLA_CSV], out, sample_data_dir)
    return out


def _copy(run, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(run, out)
    return out


def _val_rows(run_dir) -> list[dict[str, str]]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["val/psnr"]]


def _ckpt_epoch(path) -> int:
    return torch.load(path, weights_only=False, map_location="cpu")["epoch"]


def test_resume_from_last_keeps_every_epoch_and_the_best_so_far(two_epochs, tmp_path, sample_data_dir):
    """2 epochs, then ``ckpt_path=last`` to 4: the csv holds epochs 0-3 once, in order, under one header, and each
    ``val/*_best`` is the best over every epoch so far, the ones before the resume included."""
    out = _copy(two_epochs, tmp_path)
    header_before = (out / "csv" / "metrics.csv").read_text().splitlines()[0]
    grids_before = {p.name for p in (out / "samples").glob("*.png")}
    result = train_in_process([*TINY, *VANILLA_CSV, "trainer.max_epochs=4", "ckpt_path=last"], out,
                              sample_data_dir)
    assert {p.name for p in (out / "samples").glob("*.png")} - grids_before == {"epoch_002.png", "epoch_003.png"}
    assert result["epochs"] == 4 and _ckpt_epoch(out / "checkpoints" / "last.ckpt") == 3

    text = (out / "csv" / "metrics.csv").read_text()
    header = text.splitlines()[0].split(",")
    assert set(header_before.split(",")) <= set(header) and header == sorted(header)
    rows = _val_rows(out)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3], "every epoch once, in order"
    with (out / "csv" / "metrics.csv").open(newline="") as f:
        tested = [r["epoch"] for r in csv.DictReader(f) if r["test/psnr"]]
    assert tested == ["4"], "the first run's test row (epoch 2) went with the epochs it was followed by"

    from_before_resume = []
    for key, best in TRACKED.items():
        values = [float(r[f"val/{key}"]) for r in rows]
        for i, row in enumerate(rows):
            assert float(row[f"val/{key}_best"]) == pytest.approx(best(values[: i + 1]), rel=1e-6), (key, i)
        from_before_resume.append(best(values) != best(values[2:]))
    # Without the trackers in the checkpoint this would only hold by chance: some metric's best came before.
    assert any(from_before_resume), f"no tracked metric peaked before the resume: {rows}"
    assert float(rows[-1]["val/psnr_best"]) == pytest.approx(max(float(r["val/psnr"]) for r in rows))


def test_resume_from_a_checkpoint_path_in_another_dir(two_epochs, tmp_path, sample_data_dir):
    result = train_in_process([*TINY, *VANILLA_CSV, "trainer.max_epochs=3", "test=false",
                               f"ckpt_path={two_epochs / 'checkpoints' / 'last.ckpt'}"], tmp_path / "new",
                              sample_data_dir)
    assert sorted(p.name for p in (tmp_path / "new" / "samples").glob("*.png")) == ["epoch_002.png"]
    assert result["epochs"] == 3 and [r["epoch"] for r in _val_rows(tmp_path / "new")] == ["2"]


def test_an_unreadable_last_ckpt_falls_back_to_the_epoch_checkpoint(two_epochs, tmp_path, sample_data_dir, caplog):
    """What a kill during Lightning's own cross-filesystem save left: a truncated last.ckpt beside a good one."""
    out = _copy(two_epochs, tmp_path)
    last = out / "checkpoints" / "last.ckpt"
    (best,) = (out / "checkpoints").glob("epoch_*.ckpt")
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    (out / "checkpoints" / f".last.ckpt.1.abcd{TEMP_SUFFIX}").write_bytes(b"a killed atomic save")
    with caplog.at_level(logging.WARNING, logger="colorization.training.resume"):
        train_in_process([*TINY, *VANILLA_CSV, "trainer.max_epochs=3", "test=false", "ckpt_path=last"], out,
                         sample_data_dir)
    assert f"{last} cannot be read" in caplog.text and f"resuming from {best}" in caplog.text
    assert _ckpt_epoch(last) == 2 and not list((out / "checkpoints").glob(".*"))
    resumed_from = int(best.name[len("epoch_"):-len(".ckpt")])
    assert [int(r["epoch"]) for r in _val_rows(out)] == list(range(3)), f"resumed after epoch {resumed_from}"


@pytest.mark.parametrize("case", ["text", "other_model"])
def test_a_ckpt_path_that_cannot_be_resumed_is_one_sentence(case, two_epochs, tmp_path, sample_data_dir):
    if case == "text":
        ckpt = tmp_path / "notes.txt"
        ckpt.write_text("epoch 3 looked best\n")
        overrides = VANILLA_CSV
        expected = f"ConfigError: ckpt_path={ckpt} is not a PyTorch checkpoint (not a zip archive (20 bytes"
    else:
        ckpt = two_epochs / "checkpoints" / "last.ckpt"
        overrides = ["model=unet_efficientnet_lite0", "logger=csv"]
        expected = (f"ConfigError: ckpt_path={ckpt} is a `vanilla` checkpoint (loss l1) but this run builds "
                    "`unet_efficientnet_lite0`: pass model=vanilla, or start without ckpt_path")
    out = tmp_path / "run"
    with pytest.raises(ConfigError):
        train_in_process([*TINY, *overrides, f"ckpt_path={ckpt}"], out, sample_data_dir)
    status = json.loads((out / "job_status.json").read_text())
    assert status["status"] == "failed" and status["error"].startswith(expected), status["error"]
    assert not (out / "checkpoints").exists(), "nothing trained"
