"""Checkpoint writing and reading back: atomic saves (never a 0-byte or partial file, a write error named with the
checkpoint's path), the readability check the resume fallback uses, ``ckpt_path`` checks, the best-so-far trackers
in the checkpoint, and the CSV history a resume continues. (Whole resumed runs: tests/integration/test_resume.py.)"""

from __future__ import annotations

import csv
import errno
import logging
import os
import tempfile

import pytest
import torch

from colorization.errors import ConfigError
from colorization.io.atomic import TEMP_SUFFIX, FileSink
from colorization.io.checkpoints import CHECKPOINT_FORMAT_VERSION
from colorization.runs.job import describe_error
from colorization.training.checkpointing import (
    AtomicCheckpointIO,
    atomic_torch_save,
    remove_stray_temp_files,
    unreadable_reason,
)
from colorization.training.csv_logger import ContinuingExperimentWriter, rows_through_epoch
from colorization.training.module import ColorizationModule
from colorization.training.resume import check_resume_checkpoint, newest_readable_checkpoint, resolve_ckpt_path

STATE = {"state_dict": {"w": torch.arange(4096, dtype=torch.float32)}, "epoch": 3}
ADAMW = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}


def _module(name: str = "vanilla", loss: str = "l1", width: int = 8) -> ColorizationModule:
    model = {"name": "vanilla", "widths": [width, 2 * width, 4 * width, 8 * width]} if name == "vanilla" else {
        "name": name, "encoder": "resnet18", "pretrained": False, "decoder_channels": [16, 8, 8, 8, 8]}
    return ColorizationModule(model=model, loss={"name": loss}, optimizer=ADAMW)


def _lightning_like(module: ColorizationModule, epoch: int = 1) -> dict:
    """What a Lightning checkpoint holds as far as the loader and resume checks look."""
    return {"epoch": epoch, "global_step": 4, "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams), "format_version": CHECKPOINT_FORMAT_VERSION}


def _files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ------------------------------------------------------------------------------------------ atomic saves
def test_atomic_save_writes_a_loadable_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "checkpoints" / "last.ckpt"
    atomic_torch_save(STATE, target)
    assert _files(target.parent) == ["last.ckpt"]
    assert torch.equal(torch.load(target, weights_only=True)["state_dict"]["w"], STATE["state_dict"]["w"])
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # permissions as for any new file, not mkstemp's 0600


@pytest.mark.parametrize("failure", ["write", "fsync", "replace"])
def test_a_failed_save_leaves_the_old_checkpoint_and_no_temp_and_names_the_path(failure, tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"epoch": 1}, target)
    before = target.read_bytes()
    code = {"write": errno.ENOSPC, "fsync": errno.EIO, "replace": errno.EROFS}[failure]

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if failure == "write":
        written = []

        def half_then_full(self, data):  # a full disk: one short write, then ENOSPC
            if written:
                fail()
            written.append(os.write(self.fd, data[: len(data) // 2]))
            return written[-1]

        monkeypatch.setattr(FileSink, "_write_some", half_then_full)
    else:
        monkeypatch.setattr(f"colorization.io.atomic.os.{failure}", fail)
    with pytest.raises(OSError) as raised:
        atomic_torch_save(STATE, target)
    assert (raised.value.errno, raised.value.filename) == (code, str(target))
    assert f"{os.strerror(code)}: '{target}'" in str(raised.value)
    assert target.read_bytes() == before, "the old checkpoint is untouched"
    assert _files(tmp_path) == ["last.ckpt"], "no temp file left"


def test_short_writes_are_completed(tmp_path, monkeypatch):
    monkeypatch.setattr(FileSink, "_write_some", lambda self, data: os.write(self.fd, data[:7]))
    atomic_torch_save(STATE, tmp_path / "x.ckpt")
    assert torch.load(tmp_path / "x.ckpt", weights_only=True)["epoch"] == 3


def test_the_plugin_stages_beside_the_target_whatever_tmpdir_says(tmp_path, monkeypatch):
    """Lightning's own writer staged in $TMPDIR: on another filesystem its final move is a copy a kill cuts."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    monkeypatch.setattr(tempfile, "tempdir", None)
    renames = []
    real_replace = os.replace
    monkeypatch.setattr("colorization.io.atomic.os.replace",
                        lambda src, dst: (renames.append((src, dst)), real_replace(src, dst)))
    target = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(STATE, str(target))
    assert [(s.parent, d) for s, d in renames] == [(target.parent, target)]
    assert renames[0][0].name.startswith(".last.ckpt.") and renames[0][0].name.endswith(TEMP_SUFFIX)
    assert list(elsewhere.iterdir()) == [] and _files(target.parent) == ["last.ckpt"]
    assert AtomicCheckpointIO().load_checkpoint(str(target))["epoch"] == 3


def test_stray_temp_files_are_removed(tmp_path):
    (tmp_path / "last.ckpt").write_bytes(b"keep")
    (tmp_path / f".last.ckpt.123.abcd{TEMP_SUFFIX}").write_bytes(b"half")
    (tmp_path / f".epoch_001.ckpt.9.ef01{TEMP_SUFFIX}").write_bytes(b"")
    removed = remove_stray_temp_files(tmp_path)
    assert len(removed) == 2 and _files(tmp_path) == ["last.ckpt"]
    assert remove_stray_temp_files(tmp_path / "missing") == []


# ------------------------------------------------------------------------------------------ readability
def test_readability_of_complete_empty_truncated_and_text_files(tmp_path):
    good = tmp_path / "good.ckpt"
    torch.save(STATE, good)
    data = good.read_bytes()
    cases = {"empty.ckpt": b"", "half.ckpt": data[: len(data) // 2], "tail_cut.ckpt": data[:-10],
             "notes.txt": b"epoch 3 looked good\n"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    assert unreadable_reason(good) is None
    assert unreadable_reason(tmp_path / "empty.ckpt") == "0 bytes"
    for name in ("half.ckpt", "tail_cut.ckpt", "notes.txt"):
        assert "not a zip archive" in unreadable_reason(tmp_path / name), name
    assert "No such file" in unreadable_reason(tmp_path / "missing.ckpt")


def test_ckpt_path_last_falls_back_to_the_newest_readable_checkpoint(tmp_path, caplog):
    ckpts = tmp_path / "checkpoints"
    assert resolve_ckpt_path("last", tmp_path) is None  # nothing yet: a fresh start
    assert resolve_ckpt_path("/a/b.ckpt", tmp_path) == "/a/b.ckpt" and resolve_ckpt_path(None, tmp_path) is None
    atomic_torch_save(STATE, ckpts / "epoch_000.ckpt")
    atomic_torch_save(STATE, ckpts / "epoch_001.ckpt")
    os.utime(ckpts / "epoch_000.ckpt", ns=(1, 1))  # older
    atomic_torch_save(STATE, ckpts / "last.ckpt")
    assert resolve_ckpt_path("last", tmp_path) == str(ckpts / "last.ckpt")

    (ckpts / "last.ckpt").write_bytes(b"")  # what a kill during Lightning's cross-filesystem move left
    with caplog.at_level(logging.WARNING, logger="colorization.training.resume"):
        assert newest_readable_checkpoint(ckpts) == ckpts / "epoch_001.ckpt"
    assert f"{ckpts / 'last.ckpt'} cannot be read (0 bytes)" in caplog.text

    (ckpts / "epoch_001.ckpt").write_bytes(b"PK\x03\x04 cut")
    assert newest_readable_checkpoint(ckpts) == ckpts / "epoch_000.ckpt"
    (ckpts / "epoch_000.ckpt").write_bytes(b"")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="colorization.training.resume"):
        assert resolve_ckpt_path("last", tmp_path) is None
    assert "no readable checkpoint" in caplog.text and "starting from scratch" in caplog.text


def test_a_slurm_requeue_checkpoint_is_the_one_lightning_resumes_from(tmp_path, monkeypatch):
    import lightning as L
    from lightning.fabric.plugins.environments import SLURMEnvironment

    from colorization.training.resume import lightning_hpc_resume_path

    for n in (1, 3):
        atomic_torch_save(STATE, tmp_path / f"hpc_ckpt_{n}.ckpt")
    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, enable_checkpointing=False, accelerator="cpu",
                        enable_progress_bar=False, enable_model_summary=False)
    monkeypatch.setattr(SLURMEnvironment, "detect", staticmethod(lambda: False))
    assert lightning_hpc_resume_path(trainer) is None
    monkeypatch.setattr(SLURMEnvironment, "detect", staticmethod(lambda: True))
    assert lightning_hpc_resume_path(trainer) == str(tmp_path / "hpc_ckpt_3.ckpt")


# ------------------------------------------------------------------------------------------ ckpt_path checks
def test_a_file_that_is_not_a_checkpoint_is_one_sentence_naming_the_option(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a checkpoint\n")
    with pytest.raises(ConfigError) as raised:
        check_resume_checkpoint(str(notes), _module())
    assert describe_error(raised.value).startswith(f"ConfigError: ckpt_path={notes} is not a PyTorch checkpoint")
    with pytest.raises(ConfigError, match=r"ckpt_path=.*missing.ckpt does not exist"):
        check_resume_checkpoint(str(tmp_path / "missing.ckpt"), _module())


def test_a_checkpoint_of_another_model_names_both_and_the_fix(tmp_path):
    vanilla = tmp_path / "vanilla.ckpt"
    torch.save(_lightning_like(_module("vanilla"), epoch=5), vanilla)
    assert check_resume_checkpoint(str(vanilla), _module("vanilla")) == 5
    assert check_resume_checkpoint(str(vanilla), _module("vanilla", loss="mse")) == 5  # same tensors: fine-tuning
    with pytest.raises(ConfigError) as raised:
        check_resume_checkpoint(str(vanilla), _module("unet"))
    assert str(raised.value) == (f"ckpt_path={vanilla} is a `vanilla` checkpoint (loss l1) but this run builds "
                                 "`unet`: pass model=vanilla, or start without ckpt_path")
    with pytest.raises(ConfigError, match=r"\(loss ce\): pass loss=l1, or start"):
        check_resume_checkpoint(str(vanilla), _module("vanilla", loss="ce"))
    sizes = r"of other sizes than this run's \(model.widths=\[8, 16, 32, 64\] \(here \[16, 32, 64, 128\]\)\)"
    with pytest.raises(ConfigError, match=sizes):
        check_resume_checkpoint(str(vanilla), _module("vanilla", width=16))


# ------------------------------------------------------------------------------------------ trackers
def test_best_so_far_trackers_are_in_the_checkpoint():
    trained = _module()
    trained.val_best["psnr"](torch.tensor(21.5))
    trained.val_best["dcf"](torch.tensor(3.0))
    state = trained.state_dict()
    assert state["val_best.psnr.max_value"] == 21.5 and state["val_best.dcf.min_value"] == 3.0

    resumed = _module()
    resumed.load_state_dict(dict(state), strict=True)
    resumed.val_best["psnr"](torch.tensor(20.0))  # a worse epoch after the resume keeps the earlier best
    assert resumed.val_best["psnr"].compute() == 21.5 and resumed.val_best["dcf"].min_value == 3.0


# ------------------------------------------------------------------------------------------ CSV history
def _lightning_csv(path, epochs: int, test_row: bool = True) -> None:
    """Rows as Lightning's CSV logger writes them: lr at each epoch's start (no epoch), val, train; a test row."""
    keys = ["epoch", "lr-AdamW", "step", "test/psnr", "train/loss_epoch", "val/psnr"]
    rows = []
    for e in range(epochs):
        rows += [{"lr-AdamW": 0.1 / (e + 1), "step": 2 * e}, {"epoch": e, "step": 2 * e + 1, "val/psnr": 10 + e},
                 {"epoch": e, "step": 2 * e + 1, "train/loss_epoch": 1 / (e + 1)}]
    if test_row:
        rows.append({"epoch": epochs, "step": 2 * epochs, "test/psnr": 9.0})
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def test_rows_after_the_checkpoints_epoch_are_dropped(tmp_path):
    _lightning_csv(tmp_path / "m.csv", 3)
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    kept = rows_through_epoch(rows, 1)
    assert [(r["epoch"], r["lr-AdamW"]) for r in kept] == [("", "0.1"), ("0", ""), ("0", ""), ("", "0.05"),
                                                            ("1", ""), ("1", "")]
    cut = rows[:-4]  # killed at the start of epoch 2: its lr row alone (belongs to epoch 2)
    assert len(rows_through_epoch(cut, 1)) == 6
    assert rows_through_epoch(rows, 5) == rows and rows_through_epoch(rows, -1) == []


@pytest.mark.parametrize("last_epoch", [None, 0])
def test_the_writer_continues_or_replaces_the_file(last_epoch, tmp_path):
    _lightning_csv(tmp_path / "metrics.csv", 2)
    writer = ContinuingExperimentWriter(str(tmp_path), last_epoch=last_epoch)
    assert len(list(csv.DictReader((tmp_path / "metrics.csv").open()))) == 7, "nothing touched before a save"
    writer.log_metrics({"epoch": 1, "val/psnr": 12.5}, step=3)
    writer.save()
    with (tmp_path / "metrics.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    if last_epoch is None:
        assert [(r["epoch"], r["val/psnr"]) for r in rows] == [("1", "12.5")]
    else:
        assert reader.fieldnames == ["epoch", "lr-AdamW", "step", "test/psnr", "train/loss_epoch", "val/psnr"]
        assert [(r["epoch"], r["val/psnr"]) for r in rows] == [("", ""), ("0", "10"), ("0", ""), ("1", "12.5")]
