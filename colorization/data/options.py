"""The data config's options checked as the DataModule receives them, so a typo fails before anything is built.

Each bad value gets one sentence naming it as the config does (``data.batch_size=0: must be a positive integer
(images per batch and device)``): a :class:`~colorization.errors.ConfigError`. Whether the *source* is there and
well-formed is :meth:`~colorization.data.datamodule.ColorizationDataModule.check_source`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from colorization.errors import ConfigError, require_choice, require_int, require_number

SOURCES = ("sample", "kaggle", "folder")
DEFAULT_AUGMENT = {"enabled": True, "hflip_p": 0.5, "crop_scale": (0.5, 1.0), "crop_ratio": (0.75, 4 / 3),
                   "crop_p": 1.0}


def _check_range_pair(option: str, pair: object, meaning: str, *, high: float | None) -> None:
    """A ``[low, high]`` pair of numbers > 0 (and <= ``high``) with low <= high."""
    ok = isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2
    if ok:
        for value in pair:
            require_number(option, value, meaning, low=0.0, low_open=True, high=high)
        ok = pair[0] <= pair[1]
    if not ok:
        shown = list(pair) if isinstance(pair, Sequence) and not isinstance(pair, str) else pair
        raise ConfigError(f"{option}={shown!r}: must be a pair [low, high] with 0 < low <= high"
                          f"{'' if high is None else f' <= {high:g}'} ({meaning})")


def check_augment(augment: Mapping[str, Any]) -> None:
    """``data.augment.*``: probabilities in [0, 1], crop scale in (0, 1], crop ratio > 0, both as low <= high."""
    for key in ("hflip_p", "crop_p"):
        require_number(f"data.augment.{key}", augment[key], "a probability per image", high=1.0)
    _check_range_pair("data.augment.crop_scale", augment["crop_scale"], "the crop's area over the image's",
                      high=1.0)
    _check_range_pair("data.augment.crop_ratio", augment["crop_ratio"], "the crop's width over its height",
                      high=None)


def check_sample(sample: Mapping[str, Any]) -> None:
    """``data.sample.*``: the built-in set's crops per photo, held-out photos, crop cover and ab file count."""
    meanings = {"crops_per_photo": ("crops cut from each photo", 1), "val_photos": ("photos held out for val", 0),
                "test_photos": ("photos held out for test", 0), "ab_files": ("ab files per split", 1)}
    for key, (meaning, minimum) in meanings.items():
        if key in sample:
            require_int(f"data.sample.{key}", sample[key], meaning, minimum=minimum)
    if "min_cover" in sample:
        require_number("data.sample.min_cover", sample["min_cover"], "a crop's least share of the photo's side",
                       low=0.0, low_open=True, high=1.0)


def check_data_options(source: str, image_size: object, batch_size: object, num_workers: object,
                       memmap_workers: object, val_fraction: object, test_fraction: object,
                       gray_tolerance: object, augment: Mapping[str, Any], sample: Mapping[str, Any]) -> None:
    """The DataModule's options, as :class:`~colorization.data.datamodule.ColorizationDataModule` takes them."""
    require_choice("data.source", source, SOURCES, "where the images come from")
    require_int("data.image_size", image_size, "side in pixels of the images the network sees")
    require_int("data.batch_size", batch_size, "images per batch and device")
    require_int("data.num_workers", num_workers, "DataLoader worker processes; 0: load in the main process",
                minimum=0)
    if memmap_workers is not None:
        require_int("data.memmap_workers", memmap_workers, "workers for the memmap sources; null: num_workers",
                    minimum=0)
    for option, value in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
        require_number(option, value, "the share of images held out", high=1.0, high_open=True)
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"data.val_fraction={val_fraction} + data.test_fraction={test_fraction}: must add up to "
                          "less than 1, leaving images to train on")
    require_int("data.gray_tolerance", gray_tolerance, "channel difference below which a photo counts as gray",
                minimum=0)
    check_augment(augment)
    check_sample(sample)
