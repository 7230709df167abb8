"""Shared test setup: nothing downloads, nothing prompts, data is made by the tests themselves."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Set before any test imports timm / wandb: the hub fails fast offline and W&B never asks for a login.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")
# A Hugging Face cache of the tests' own (model=resnet|unet start from timm's ImageNet weights, found there offline;
# see the hub_cache fixture). Set before huggingface_hub is imported: it reads HF_HOME once.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="colorization-tests-hf-")

from colorization import prefer_passive_omp_waits  # noqa: E402

prefer_passive_omp_waits()  # as every entry point does, before torch loads OpenMP (and for every subprocess)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session", autouse=True)
def hub_cache():
    """timm-format ResNet-34 weights in the tests' HF cache, so the default configs (pretrained from the hub)
    build offline, in this process and in every subprocess; removed at the end of the session."""
    from tests.support.hf_cache import write_timm_weights

    hf_home = os.environ["HF_HOME"]
    write_timm_weights(hf_home, "resnet34")
    yield hf_home
    shutil.rmtree(hf_home, ignore_errors=True)


@pytest.fixture(scope="session")
def real_photos() -> dict[str, np.ndarray]:
    """A few real colour photos from installed wheels, name -> RGB uint8 [H, W, 3]."""
    from colorization.data.photos import load_photo

    names = ["skimage_astronaut", "skimage_chelsea", "skimage_coffee", "sklearn_china", "matplotlib_grace_hopper"]
    return {n: load_photo(n) for n in names}


@pytest.fixture(scope="session")
def real_crops(real_photos) -> np.ndarray:
    """Sixteen 64x64 RGB uint8 crops from real photos, [16, 64, 64, 3]; deterministic."""
    rng = np.random.default_rng(0)
    crops = []
    photos = list(real_photos.values())
    for i in range(16):
        img = photos[i % len(photos)]
        y = rng.integers(0, img.shape[0] - 64)
        x = rng.integers(0, img.shape[1] - 64)
        crops.append(img[y : y + 64, x : x + 64])
    return np.stack(crops)


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory) -> Path:
    """``paths.data_dir`` shared by every training test of the session: each sample-set build (keyed by its
    settings) is made once and reused, in process and by subprocesses alike."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def train_job(tmp_path, sample_data_dir) -> Callable[..., tuple[dict[str, Any], Path]]:
    """``train_job(*overrides, run="run")`` trains in this process (``conf/train.yaml`` + ``TINY`` + overrides)
    into ``tmp_path/<run>``; returns ``(result of colorization.train.train, run dir)``."""
    from tests.support.entry_points import TINY
    from tests.support.in_process import train_in_process

    def run(*overrides: str, run: str = "run") -> tuple[dict[str, Any], Path]:
        out = tmp_path / run
        return train_in_process([*TINY, *overrides], out, sample_data_dir), out

    return run
