"""The built-in sample set: seeded crops of the real colour photos that ship inside installed wheels.

Photos are split into train / val / test **by photo**, so no crop of a val or test photo is ever trained on.
Each split is written once in the Kaggle layout (the same memmap reader serves it) under
``root/<hash of the parameters>/{train,val,test}`` and rebuilt only when the parameters change.
Offline, no download, a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorization.color import rgb_to_lab8
from colorization.data.kaggle import write_kaggle_layout

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
_FORMAT_VERSION = 1  # bump when the way crops are cut changes, so old caches are rebuilt


def _unique_photos() -> dict[str, np.ndarray]:
    """Built-in photos with duplicates removed (skimage's ``cat`` is ``chelsea``): a photo listed twice
    under two names could otherwise land in two splits."""
    from colorization.data.photos import builtin_photos

    seen: dict[str, str] = {}
    out: dict[str, np.ndarray] = {}
    for name, img in builtin_photos().items():
        digest = hashlib.sha1(img.tobytes()).hexdigest()
        if digest in seen:
            log.debug("built-in photo %s duplicates %s; using it once", name, seen[digest])
            continue
        seen[digest] = name
        out[name] = img
    return out


def split_photos(names: list[str], val_photos: int, test_photos: int, seed: int) -> dict[str, list[str]]:
    """Seeded split of photo names into ``{"train", "val", "test"}``; train keeps at least one photo."""
    if val_photos < 0 or test_photos < 0 or val_photos + test_photos >= len(names):
        raise ValueError(f"cannot hold out {val_photos} val + {test_photos} test photos from {len(names)} "
                         f"built-in photos and keep one for training")
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    return {
        "val": sorted(order[:val_photos]),
        "test": sorted(order[val_photos : val_photos + test_photos]),
        "train": sorted(order[val_photos + test_photos :]),
    }


def random_crops(
    rgb: np.ndarray, n: int, crop_size: int, min_cover: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` square crops of RGB ``[H, W, 3]``, each resized to ``crop_size``: ``[n, crop_size, crop_size, 3]``.

    A crop's side is a uniform fraction in ``[min_cover, 1]`` of the photo's shorter side, so crops show a
    reasonable part of the scene rather than a few magnified pixels.
    """
    h, w = rgb.shape[:2]
    short = min(h, w)
    img = Image.fromarray(rgb)
    out = np.empty((n, crop_size, crop_size, 3), dtype=np.uint8)
    for k in range(n):
        side = max(1, int(round(short * rng.uniform(min_cover, 1.0))))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = img.resize((crop_size, crop_size), Image.Resampling.BICUBIC, box=(x, y, x + side, y + side),
                          reducing_gap=2.0)
        out[k] = np.asarray(crop)
    return out


def sample_params(
    crop_size: int, crops_per_photo: int, seed: int, val_photos: int, test_photos: int, min_cover: float
) -> dict:
    """The parameters that identify one build (their hash names the cache folder)."""
    return {"crop_size": int(crop_size), "crops_per_photo": int(crops_per_photo), "seed": int(seed),
            "val_photos": int(val_photos), "test_photos": int(test_photos), "min_cover": float(min_cover),
            "version": _FORMAT_VERSION}


def _is_complete(folder: Path, params: dict) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("params") == params and all((folder / s / "l" / "gray_scale.npy").is_file()
                                                    for s in SPLITS)


def sample_image_names(folder: str | Path, split: str) -> list[str]:
    """The id of every image of ``split`` in a built sample set, in stored order: ``sample:<key>/<photo>/<k>``.

    Crop ``k`` (0-based) of ``photo``; ``key`` is the set's folder name (the hash of its build parameters), so
    two runs over the same crops share ids and runs over different crops (another seed or size) never do.
    Read from ``manifest.json``: each split stores ``crops_per_photo`` crops per photo, photos in listed order.
    """
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    crops = int(manifest["params"]["crops_per_photo"])
    names = [f"sample:{folder.name}/{photo}/{k}" for photo in manifest["photos"][split] for k in range(crops)]
    if len(names) != manifest["images"][split]:
        raise ValueError(f"{folder / MANIFEST} lists {len(names)} crops for {split} but "
                         f"{manifest['images'][split]} images")
    return names


def build_sample_set(
    root: str | Path,
    crop_size: int = 64,
    crops_per_photo: int = 32,
    seed: int = 0,
    val_photos: int = 2,
    test_photos: int = 2,
    min_cover: float = 0.35,
    ab_files: int = 3,
) -> Path:
    """Build (or reuse) the sample set under ``root``; returns the folder holding ``train/ val/ test/``.

    Each split is a Kaggle-layout folder readable by :class:`~colorization.data.KaggleLabDataset`, its images
    spread over ``ab_files`` ab files like the download. ``manifest.json`` records the parameters and which
    photo went to which split. Written to a temporary folder and renamed into place, so an interrupted or
    concurrent build never leaves a half-written set behind.
    """
    params = sample_params(crop_size, crops_per_photo, seed, val_photos, test_photos, min_cover)
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    root = Path(root)
    final = root / key
    if _is_complete(final, params):
        return final

    photos = _unique_photos()
    split = split_photos(sorted(photos), val_photos, test_photos, seed)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        counts = {}
        for s_index, s in enumerate(SPLITS):
            crops = [random_crops(photos[name], crops_per_photo, crop_size, min_cover,
                                  np.random.default_rng([seed, s_index, p_index]))
                     for p_index, name in enumerate(split[s])]
            rgb = torch.from_numpy(np.concatenate(crops)).permute(0, 3, 1, 2)
            lab8 = rgb_to_lab8(rgb).numpy()
            n = lab8.shape[0]
            parts = [len(c) for c in np.array_split(np.arange(n), min(ab_files, n))]
            write_kaggle_layout(tmp / s, lab8, splits=parts, nested=True)
            counts[s] = n
        manifest = {"params": params, "photos": split, "images": counts,
                    "photo_shapes": {k: list(v.shape) for k, v in photos.items()}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if final.exists():  # stale or partial build with the same key
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if not _is_complete(final, params):  # another process won the race with a good build: keep it
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built sample set at %s: %s", final, counts)
    return final
