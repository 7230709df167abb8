"""data=kaggle finds a notebook's /kaggle/input/image-colorization by itself (COLORIZATION_DATA and data.root still
win), and trains from such a read-only mount: the splits read from it and the ce prior is cached elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

import colorization.config  # noqa: F401 - registers the resolvers
from colorization.color import rgb_to_lab8
from colorization.data import write_kaggle_layout
from colorization.losses import cached_prior
from colorization.train import CONFIG_DIR

MOUNT = "/kaggle/input/image-colorization"


def _data_cfg(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=["data=kaggle", *overrides]).data


@pytest.fixture
def mounted(monkeypatch):
    """The notebook mount is there (only ``os.path.isdir`` is told so); no COLORIZATION_DATA."""
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda p: os.fspath(p) == MOUNT or real_isdir(p))
    monkeypatch.delenv("COLORIZATION_DATA", raising=False)


def test_no_root_given_finds_the_notebook_mount(mounted):
    assert _data_cfg([]).root == MOUNT


def test_without_the_mount_the_data_folder_is_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("COLORIZATION_DATA", raising=False)
    monkeypatch.setenv("COLORIZATION_HOME", str(tmp_path))
    assert not os.path.isdir(MOUNT)  # this machine is no notebook
    assert _data_cfg([]).root == f"{tmp_path}/data/kaggle"


def test_an_explicit_root_wins_over_the_mount(mounted, monkeypatch, tmp_path):
    assert _data_cfg([f"data.root={tmp_path}"]).root == str(tmp_path)
    monkeypatch.setenv("COLORIZATION_DATA", str(tmp_path / "env"))
    assert _data_cfg([]).root == str(tmp_path / "env")


def test_first_dir_takes_the_first_existing_folder_else_the_last(tmp_path):
    (tmp_path / "b").mkdir()
    first_dir = colorization.config.first_dir
    assert first_dir(str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "c")) == str(tmp_path / "b")
    assert first_dir(str(tmp_path / "a"), str(tmp_path / "c")) == str(tmp_path / "c")
    with pytest.raises(ValueError, match="at least one path"):
        first_dir()


def test_training_data_reads_from_a_read_only_mount(real_crops, monkeypatch, tmp_path):
    mount = tmp_path / "kaggle" / "input" / "image-colorization"
    lab8 = rgb_to_lab8(torch.from_numpy(real_crops).permute(0, 3, 1, 2)).numpy()  # [16, 3, 64, 64]
    write_kaggle_layout(mount, lab8, splits=(8, 8))
    # /kaggle/input is a read-only file system: even root may not write there. Tests may run as root, who
    # passes permission bits, so the answer of os.access is what is made read-only here.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
        False if mode & os.W_OK and Path(p).is_relative_to(mount) else real_access(p, mode, **kw)))
    before = sorted(p.name for p in mount.rglob("*"))

    dm = instantiate(_data_cfg([f"data.root={mount}", f"paths.data_dir={tmp_path}/data", "data.image_size=64",
                                "data.val_fraction=0.25", "data.test_fraction=0.25"]))
    dm.setup()
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 8, "val": 4, "test": 4}
    train_ids = dm.image_ids("train", range(8))
    first = int(train_ids[0].split(":")[1])
    np.testing.assert_array_equal(dm.datasets["train"][0], lab8[first])  # the mount's bytes, paired

    dataset, prior_path = dm.prior_source()
    assert prior_path.parent == tmp_path / "data" / "cache" and prior_path.name.startswith("image-colorization_")
    prior = cached_prior(dataset, prior_path, max_images=8)
    assert prior_path.is_file() and prior.shape == (313,) and float(prior.sum()) == pytest.approx(1.0)
    assert sorted(p.name for p in mount.rglob("*")) == before  # nothing written into the mount
