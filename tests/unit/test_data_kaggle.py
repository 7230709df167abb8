"""The Kaggle-layout reader: both layouts, exact pairing of L with ab, and one clear error per bad layout."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from colorization.color import rgb_to_lab8
from colorization.data import DatasetError, KaggleLabDataset, write_kaggle_layout

SPLITS = (6, 5, 5)  # three ab files with different images, so a pairing error shows


@pytest.fixture(scope="module")
def lab8(real_crops) -> np.ndarray:
    """Sixteen real 64x64 crops as uint8 LAB [16, 3, 64, 64]."""
    return rgb_to_lab8(torch.from_numpy(real_crops).permute(0, 3, 1, 2)).numpy()


@pytest.fixture(params=[True, False], ids=["nested", "flat"])
def kaggle_dir(request, tmp_path, lab8):
    return write_kaggle_layout(tmp_path / "kaggle", lab8, splits=SPLITS, nested=request.param)


def test_layout_on_disk_matches_the_download(tmp_path, lab8):
    root = write_kaggle_layout(tmp_path / "k", lab8, splits=SPLITS)
    gray = np.load(root / "l" / "gray_scale.npy")
    assert gray.shape == (16, 64, 64) and gray.dtype == np.uint8
    shapes = [np.load(root / "ab" / "ab" / f"ab{k}.npy").shape for k in (1, 2, 3)]
    assert shapes == [(6, 64, 64, 2), (5, 64, 64, 2), (5, 64, 64, 2)]
    np.testing.assert_array_equal(np.load(root / "ab" / "ab" / "ab2.npy")[0], lab8[6, 1:].transpose(1, 2, 0))


def test_every_image_pairs_its_l_with_its_ab(kaggle_dir, lab8):
    ds = KaggleLabDataset(kaggle_dir)
    assert len(ds) == 16 and ds.image_size == (64, 64)
    assert len({lab8[i].tobytes() for i in range(16)}) == 16  # distinct images, or pairing would go unseen
    for i in range(16):
        item = ds[i]
        assert item.dtype == torch.uint8 and item.shape == (3, 64, 64)
        np.testing.assert_array_equal(item.numpy(), lab8[i])
    np.testing.assert_array_equal(ds[-1].numpy(), lab8[15])


def test_batched_read_keeps_order_across_ab_files(kaggle_dir, lab8):
    ds = KaggleLabDataset(kaggle_dir)
    order = [15, 0, 7, 6, 5, 11, 3]
    batch = ds.get_batch(order)
    assert batch.shape == (7, 3, 64, 64) and batch.dtype == torch.uint8
    np.testing.assert_array_equal(batch.numpy(), lab8[order])
    np.testing.assert_array_equal(ds.__getitems__(order).numpy(), lab8[order])


def test_subset_indices_and_pickling(kaggle_dir, lab8):
    ds = KaggleLabDataset(kaggle_dir, indices=[14, 2, 9])
    assert len(ds) == 3
    np.testing.assert_array_equal(ds[0].numpy(), lab8[14])
    clone = pickle.loads(pickle.dumps(ds))  # what a DataLoader worker receives: paths, not data
    assert len(pickle.dumps(ds)) < 10_000
    np.testing.assert_array_equal(clone[2].numpy(), lab8[9])
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(DatasetError, match="out of range"):
        KaggleLabDataset(kaggle_dir, indices=[16])


def test_opening_maps_instead_of_reading(kaggle_dir):
    ds = KaggleLabDataset(kaggle_dir)
    assert isinstance(ds._gray, np.memmap) and all(isinstance(a, np.memmap) for a in ds._ab)


def test_any_counts_that_add_up(tmp_path, lab8):
    ds = KaggleLabDataset(write_kaggle_layout(tmp_path / "k", lab8, splits=(1, 10, 2, 3)))
    np.testing.assert_array_equal(ds.get_batch(range(16)).numpy(), lab8)


def test_ab10_sorts_after_ab2(tmp_path, lab8):
    ds = KaggleLabDataset(write_kaggle_layout(tmp_path / "k", lab8, splits=(1,) * 16))
    np.testing.assert_array_equal(ds.get_batch(range(16)).numpy(), lab8)


# ---------------------------------------------------------------------------------------------- bad layouts
def _raises(root, *fragments):
    with pytest.raises(DatasetError) as info:
        KaggleLabDataset(root)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    return str(info.value)


def test_missing_folder(tmp_path):
    _raises(tmp_path / "nope", "nope", "gray_scale.npy")


def test_missing_gray_file(kaggle_dir):
    (kaggle_dir / "l" / "gray_scale.npy").unlink()
    _raises(kaggle_dir, "gray_scale.npy", "missing", "(N, H, W) uint8")


def test_missing_ab_files(tmp_path, lab8):
    root = write_kaggle_layout(tmp_path / "k", lab8, splits=SPLITS)
    for p in (root / "ab" / "ab").glob("*.npy"):
        p.unlink()
    _raises(root, "ab1.npy", "(n, H, W, 2) uint8")


def test_totals_that_do_not_add_up(tmp_path, lab8):
    root = write_kaggle_layout(tmp_path / "k", lab8, splits=SPLITS)
    (root / "ab" / "ab" / "ab3.npy").unlink()
    msg = _raises(root, "gray_scale.npy", "16 images", "11", "ab1.npy=6", "ab2.npy=5")
    assert "add up" in msg


def test_wrong_gray_dtype(tmp_path, lab8):
    root = write_kaggle_layout(tmp_path / "k", lab8, splits=SPLITS)
    np.save(root / "l" / "gray_scale.npy", lab8[:, 0].astype(np.float32))
    _raises(root, "gray_scale.npy", "float32", "uint8")


def test_wrong_ab_shape(tmp_path, lab8):
    root = write_kaggle_layout(tmp_path / "k", lab8, splits=SPLITS)
    np.save(root / "ab" / "ab" / "ab2.npy", np.zeros((5, 64, 64, 3), np.uint8))
    _raises(root, "ab2.npy", "(5, 64, 64, 3)", "(n, 64, 64, 2)")


def test_ab_size_differs_from_gray(tmp_path, lab8):
    root = write_kaggle_layout(tmp_path / "k", lab8, splits=SPLITS)
    np.save(root / "ab" / "ab" / "ab1.npy", np.zeros((6, 32, 32, 2), np.uint8))
    _raises(root, "ab1.npy", "32x32", "64x64")


def test_corrupt_array_file(tmp_path, lab8):
    root = write_kaggle_layout(tmp_path / "k", lab8, splits=SPLITS)
    (root / "l" / "gray_scale.npy").write_bytes(b"this is not a numpy file")
    _raises(root, "gray_scale.npy", "cannot read")


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


def test_write_refuses_bad_input(tmp_path, lab8):
    with pytest.raises(ValueError, match="add up"):
        write_kaggle_layout(tmp_path / "k", lab8, splits=(10, 10))
    with pytest.raises(ValueError, match="uint8"):
        write_kaggle_layout(tmp_path / "k", lab8.astype(np.float32))
