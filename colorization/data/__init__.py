"""Datasets of uint8 OpenCV-LAB images and the LightningDataModule that serves them.

Every source yields uint8 ``[3, H, W]`` (L8, a8, b8): the Kaggle arrays (:class:`KaggleLabDataset`), any folder
of photos (:class:`ImageFolderLab`) and the built-in sample set (:func:`build_sample_set`, stored in the Kaggle
layout). Floats only appear on the device, in :func:`colorization.data.augment.prepare_batch`.

Names are imported lazily, so a DataLoader worker or a script that only reads arrays does not pay for
importing Lightning and kornia.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BatchAugment": "augment",
    "prepare_batch": "augment",
    "ColorizationDataModule": "datamodule",
    "ImageFolderLab": "folder",
    "load_rgb": "folder",
    "scan_images": "folder",
    "DatasetError": "kaggle",
    "KaggleLabDataset": "kaggle",
    "write_kaggle_layout": "kaggle",
    "build_sample_set": "sample",
}

__all__ = [
    "BatchAugment",
    "ColorizationDataModule",
    "DatasetError",
    "ImageFolderLab",
    "KaggleLabDataset",
    "build_sample_set",
    "load_rgb",
    "prepare_batch",
    "scan_images",
    "write_kaggle_layout",
]

if TYPE_CHECKING:
    from colorization.data.augment import BatchAugment, prepare_batch
    from colorization.data.datamodule import ColorizationDataModule
    from colorization.data.folder import ImageFolderLab, load_rgb, scan_images
    from colorization.data.kaggle import DatasetError, KaggleLabDataset, write_kaggle_layout
    from colorization.data.sample import build_sample_set


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'colorization.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"colorization.data.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
