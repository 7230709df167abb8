"""Built-in sample set: split by photo, seeded, written once in the Kaggle layout, rebuilt on change only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from colorization.data import KaggleLabDataset, build_sample_set
from colorization.data.sample import split_photos

PARAMS = {"crop_size": 32, "crops_per_photo": 3, "seed": 0, "val_photos": 2, "test_photos": 2}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    return root, build_sample_set(root, **PARAMS)


def test_splits_hold_disjoint_photos_and_every_crop_is_accounted_for(built):
    _, folder = built
    manifest = json.loads((folder / "manifest.json").read_text())
    photos = manifest["photos"]
    sets = [set(photos[s]) for s in ("train", "val", "test")]
    assert len(sets[1]) == 2 and len(sets[2]) == 2 and len(sets[0]) >= 5
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    # skimage's "cat" and "chelsea" are the same picture: only one of them may be used
    assert not {"skimage_cat", "skimage_chelsea"} <= set().union(*sets)
    for split, names in photos.items():
        ds = KaggleLabDataset(folder / split)
        assert len(ds) == 3 * len(names) == manifest["images"][split]
        batch = ds.get_batch(range(len(ds)))
        assert batch.shape == (len(ds), 3, 32, 32)
        assert (batch[:, 1:].float() - 128).abs().amax() > 5  # real colour, not gray


def test_crops_of_different_splits_never_coincide(built):
    _, folder = built
    seen = {}
    for split in ("train", "val", "test"):
        ds = KaggleLabDataset(folder / split)
        for i in range(len(ds)):
            key = ds[i].numpy().tobytes()
            assert seen.setdefault(key, split) == split


def test_second_build_reuses_the_files(built):
    root, folder = built
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*.npy")}
    again = build_sample_set(root, **PARAMS)
    assert again == folder
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.npy")} == stamps


def test_changed_parameters_build_elsewhere_and_same_seed_is_reproducible(built, tmp_path):
    root, folder = built
    other = build_sample_set(root, **{**PARAMS, "crops_per_photo": 2})
    assert other != folder and len(KaggleLabDataset(other / "train")) < len(KaggleLabDataset(folder / "train"))
    fresh = build_sample_set(tmp_path, **PARAMS)  # same parameters, new cache: same bytes
    for split in ("train", "val", "test"):
        a = KaggleLabDataset(folder / split)
        b = KaggleLabDataset(fresh / split)
        np.testing.assert_array_equal(a.get_batch(range(len(a))).numpy(), b.get_batch(range(len(b))).numpy())


def test_split_is_seeded_and_refuses_impossible_requests():
    names = [f"p{i}" for i in range(6)]
    assert split_photos(names, 1, 1, seed=3) == split_photos(names, 1, 1, seed=3)
    assert len({json.dumps(split_photos(names, 1, 1, seed=s)) for s in range(5)}) > 1  # the seed matters
    with pytest.raises(ValueError, match="keep one for training"):
        split_photos(names, 3, 3, seed=0)
