"""The datamodule over all three sources, and the on-device batch preparation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from colorization.color import rgb_to_lab8
from colorization.data import BatchAugment, ColorizationDataModule, prepare_batch, write_kaggle_layout
from colorization.data.datamodule import seeded_split


def _check_loader(loader, size, batch_size):
    batch = next(iter(loader))
    assert batch.dtype == torch.uint8 and batch.device.type == "cpu"
    assert batch.ndim == 4 and batch.shape[1:] == (3, size, size) and batch.shape[0] <= batch_size
    L, ab = prepare_batch(batch)
    assert L.shape == (batch.shape[0], 1, size, size) and ab.shape == (batch.shape[0], 2, size, size)
    assert L.min() >= -1 and L.max() <= 1 and ab.abs().max() <= 1
    return batch


@pytest.fixture
def kaggle_root(tmp_path, real_crops):
    lab8 = rgb_to_lab8(torch.from_numpy(real_crops).permute(0, 3, 1, 2)).numpy()
    return write_kaggle_layout(tmp_path / "kaggle", lab8, splits=(6, 5, 5))


def test_kaggle_source(kaggle_root):
    dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=64, batch_size=4, num_workers=0,
                                val_fraction=0.25, test_fraction=0.125, seed=1)
    dm.setup("fit")
    sizes = {s: len(d) for s, d in dm.datasets.items()}
    assert sizes == {"train": 10, "val": 4, "test": 2}
    idx = [set(dm.datasets[s].indices.tolist()) for s in ("train", "val", "test")]
    assert set().union(*idx) == set(range(16)) and sum(map(len, idx)) == 16
    batches = list(dm.train_dataloader())
    assert len(batches) == 2  # drop_last: 10 // 4
    _check_loader(dm.val_dataloader(), 64, 4)
    lab8, positions = next(iter(dm.test_dataloader()))  # test batches say which images they hold
    assert positions.tolist() == [0, 1] and torch.equal(lab8, dm.datasets["test"].get_batch([0, 1]))
    _check_loader([lab8], 64, 4)


def test_kaggle_source_with_workers(kaggle_root):
    dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=64, batch_size=4, num_workers=1,
                                memmap_workers=None, persistent_workers=False, val_fraction=0.25,
                                test_fraction=0.125)
    dm.setup()
    loader = dm.val_dataloader()
    assert loader.num_workers == 1
    got = torch.cat(list(loader))
    expected = dm.datasets["val"].get_batch(range(4))
    assert torch.equal(got, expected)


def test_sample_source(tmp_path):
    dm = ColorizationDataModule(source="sample", root=tmp_path / "sample", image_size=32, batch_size=8,
                                num_workers=0, sample={"crops_per_photo": 2})
    dm.prepare_data()
    dm.setup()
    assert dm.sample_dir is not None and dm.sample_dir.parent == tmp_path / "sample"
    assert len(dm.datasets["val"]) == 4 and len(dm.datasets["test"]) == 4
    _check_loader(dm.train_dataloader(), 32, 8)
    _check_loader(dm.val_dataloader(), 32, 8)


def test_folder_source(tmp_path, real_crops):
    for i in range(8):
        Image.fromarray(real_crops[i]).save(tmp_path / f"p{i}.png")
    Image.fromarray(real_crops[8][..., 0]).save(tmp_path / "gray.png")
    dm = ColorizationDataModule(source="folder", root=tmp_path, image_size=32, batch_size=3, num_workers=0,
                                val_fraction=0.25, test_fraction=0.125)
    dm.setup()
    assert {s: len(d) for s, d in dm.datasets.items()} == {"train": 5, "val": 2, "test": 1}
    assert [p.name for p in dm.skipped["grayscale"]] == ["gray.png"]
    _check_loader(dm.train_dataloader(), 32, 3)
    _check_loader(dm.val_dataloader(), 32, 3)


def test_val_and_test_are_deterministic(kaggle_root):
    dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=64, batch_size=4, num_workers=0)
    dm.setup()
    assert torch.equal(torch.cat(list(dm.val_dataloader())), torch.cat(list(dm.val_dataloader())))


def test_seeded_split():
    a, b = seeded_split(100, 0.1, 0.2, seed=0), seeded_split(100, 0.1, 0.2, seed=0)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (70, 10, 20)
    assert not np.array_equal(a["val"], seeded_split(100, 0.1, 0.2, seed=1)["val"])


def test_unknown_source():
    with pytest.raises(ValueError, match="sample, kaggle, folder"):
        ColorizationDataModule(source="imagenet")


# ---------------------------------------------------------------------------------------------- device side
def test_batch_augment_moves_l_and_ab_together():
    # A horizontal ramp in every channel: after flips and crops, L and ab must still agree pixel by pixel.
    ramp = torch.linspace(0, 255, 48).round().to(torch.uint8)
    lab8 = ramp.view(1, 1, 1, 48).expand(8, 3, 48, 48).contiguous()
    torch.manual_seed(0)
    aug = BatchAugment(hflip_p=0.5, crop_scale=(0.3, 0.6), size=32)
    L, ab = prepare_batch(lab8, augment=True, aug=aug)
    assert L.shape == (8, 1, 32, 32) and ab.shape == (8, 2, 32, 32)
    L8 = (L + 1) * 127.5
    torch.testing.assert_close((ab[:, 0:1] * 128 + 128), L8, atol=1e-3, rtol=0)
    assert not torch.allclose(L8[:, :, :, 0], L8[:, :, :, -1])  # cropped / flipped, not constant
    flipped = (L8[:, 0, 0, 0] > L8[:, 0, 0, -1]).sum()
    assert 0 < flipped < 8  # some images flipped, some not


def test_prepare_batch_without_augment_is_plain_normalisation(kaggle_root):
    lab8 = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    aug = BatchAugment(size=16)
    for augment, a in ((False, aug), (True, None)):
        L, ab = prepare_batch(lab8, augment=augment, aug=a)
        torch.testing.assert_close(L, lab8[:, :1].float() / 127.5 - 1)
        torch.testing.assert_close(ab, (lab8[:, 1:].float() - 128) / 128)
    L, ab = prepare_batch(lab8, size=8)  # resized when the stored size differs from the wanted one
    assert L.shape == (2, 1, 8, 8) and ab.shape == (2, 2, 8, 8)
    with pytest.raises(ValueError, match="uint8 LAB batch"):
        prepare_batch(lab8.float())


def test_make_batch_augment_follows_the_config(kaggle_root):
    dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=48,
                                augment={"hflip_p": 0.25, "crop_scale": [0.7, 0.9]})
    aug = dm.make_batch_augment()
    assert aug.hflip_p == 0.25 and aug.crop_scale == (0.7, 0.9) and aug.size == 48
    assert ColorizationDataModule(augment={"enabled": False}).make_batch_augment() is None


def test_fixed_images_are_spread_over_the_split_and_the_same_every_time(kaggle_root, tmp_path, real_crops):
    dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=64, batch_size=4, num_workers=0,
                                val_fraction=0.375, test_fraction=0.125, seed=1)
    first = dm.fixed_images(3)  # sets the datamodule up itself
    val = dm.datasets["val"]
    assert len(val) == 6 and first.dtype == torch.uint8 and first.shape == (3, 3, 64, 64)
    assert torch.equal(first, val.get_batch([0, 2, 5]))  # first, middle, last of the split, as stored
    assert torch.equal(dm.fixed_images(3), first)
    assert torch.equal(dm.fixed_images(100), val.get_batch(range(6)))  # never more than the split holds
    assert dm.fixed_images(0) is None
    L, ab = dm.on_after_batch_transfer(first, 0)  # no trainer: not training, so never augmented
    torch.testing.assert_close(L, first[:, :1].float() / 127.5 - 1)
    torch.testing.assert_close(ab, (first[:, 1:].float() - 128) / 128)
    for i in range(4):
        Image.fromarray(real_crops[i]).save(tmp_path / f"p{i}.png")
    folder = ColorizationDataModule(source="folder", root=tmp_path, image_size=32, val_fraction=0.5,
                                    test_fraction=0.25)
    images = folder.fixed_images(8)  # photos decoded one by one
    assert images.shape == (2, 3, 32, 32) and torch.equal(images, torch.stack([folder.datasets["val"][i]
                                                                               for i in range(2)]))
