"""Per-image test results: every dataset names its images' sources, and test batches say which images they hold."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from colorization.color import rgb_to_lab8
from colorization.data import ColorizationDataModule, KaggleLabDataset, write_kaggle_layout
from colorization.data.on_device import DeviceBatchLoader, load_to_device
from colorization.data.photos import load_photo
from colorization.data.sample import SPLITS, random_crops
from colorization.metrics import IMAGE_METRIC_KEYS, write_image_metrics
from colorization.training.module import gather_image_values


@pytest.fixture
def kaggle_root(tmp_path, real_crops):
    lab8 = rgb_to_lab8(torch.from_numpy(real_crops[:, :32, :32].copy()).permute(0, 3, 1, 2)).numpy()
    return write_kaggle_layout(tmp_path / "kaggle", lab8, splits=(6, 5, 5))


def _test_batches(dm: ColorizationDataModule) -> tuple[torch.Tensor, torch.Tensor]:
    """Every test batch through the loader and the transfer hook: ``(lab8 [N,3,H,W], positions [N])``."""
    images, positions = [], []
    for lab8, pos in dm.test_dataloader():
        assert lab8.dtype == torch.uint8 and pos.dtype == torch.int64 and pos.shape == (lab8.shape[0],)
        L_, ab, pos_after = dm.on_after_batch_transfer((lab8, pos), 0)
        assert torch.equal(pos_after, pos)
        torch.testing.assert_close(L_, lab8[:, :1].float() / 127.5 - 1)  # test batches are never augmented
        torch.testing.assert_close(ab, (lab8[:, 1:].float() - 128) / 128)
        images.append(lab8)
        positions.append(pos)
    return torch.cat(images), torch.cat(positions)


def test_kaggle_ids_are_indices_into_the_full_arrays(kaggle_root):
    assert KaggleLabDataset(kaggle_root, indices=[5, 2]).image_id(0) == "kaggle:5"
    split_ids = {}
    for seed in (1, 2):
        dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=32, batch_size=3, num_workers=0,
                                    val_fraction=0.25, test_fraction=0.25, seed=seed)
        dm.setup()
        test = dm.datasets["test"]
        images, positions = _test_batches(dm)
        assert positions.tolist() == list(range(len(test)))  # in stored order, each once, over 2 batches
        ids = dm.image_ids("test", positions)
        assert ids == [f"kaggle:{k}" for k in test.indices.tolist()]
        full = KaggleLabDataset(kaggle_root)
        assert torch.equal(images, full.get_batch([int(i.split(":")[1]) for i in ids]))  # the id is the image
        split_ids[seed] = ids
    assert split_ids[1] != split_ids[2]  # another split seed: other test images, other ids


def test_sample_ids_name_the_photo_and_crop(tmp_path):
    params = {"crops_per_photo": 2, "val_photos": 2, "test_photos": 2, "min_cover": 0.35, "seed": 3}
    dm = ColorizationDataModule(source="sample", root=tmp_path / "sample", image_size=32, batch_size=3,
                                num_workers=0, sample=params)
    dm.setup()
    manifest = json.loads((dm.sample_dir / "manifest.json").read_text())
    images, positions = _test_batches(dm)
    ids = dm.image_ids("test", positions)
    key = dm.sample_dir.name
    assert ids == [f"sample:{key}/{p}/{k}" for p in manifest["photos"]["test"] for k in range(2)]
    # The id says exactly which crop it is: cut it again from the named photo.
    s_index = SPLITS.index("test")
    for j, image_id in enumerate(ids):
        photo, k = image_id.split("/")[1], int(image_id.split("/")[2])
        p_index = manifest["photos"]["test"].index(photo)
        crops = random_crops(load_photo(photo), 2, 32, 0.35, np.random.default_rng([3, s_index, p_index]))
        assert torch.equal(images[j], rgb_to_lab8(torch.from_numpy(crops[k]).permute(2, 0, 1)))
    all_ids = [dm.image_ids(s, range(len(dm.datasets[s]))) for s in SPLITS]
    assert len(set().union(*all_ids)) == sum(map(len, all_ids))  # unique over the whole set
    same = ColorizationDataModule(source="sample", root=tmp_path / "sample", image_size=32, sample=params)
    assert same.image_ids("test", positions) == ids  # the same data, another run: the same ids
    other = ColorizationDataModule(source="sample", root=tmp_path / "sample", image_size=32,
                                   sample={**params, "seed": 4})
    assert not set(other.image_ids("test", range(4))) & set(ids)  # other crops never share an id


def test_folder_ids_are_paths_relative_to_the_root(tmp_path, real_crops):
    (tmp_path / "a" / "b").mkdir(parents=True)
    names = ["p0.png", "a/p1.png", "a/b/p2.png", "a/b/p3.jpg"]
    for i, name in enumerate(names):
        Image.fromarray(real_crops[i]).save(tmp_path / name)
    dm = ColorizationDataModule(source="folder", root=tmp_path, image_size=32, batch_size=1, num_workers=0,
                                val_fraction=0.25, test_fraction=0.5)
    dm.setup()
    images, positions = _test_batches(dm)  # default collate: (uint8 [B,3,H,W], int64 [B])
    ids = dm.image_ids("test", positions)
    assert positions.tolist() == [0, 1] and len(set(ids)) == 2
    for j, image_id in enumerate(ids):
        assert image_id.startswith("folder:") and image_id[len("folder:"):] in names
        assert torch.equal(images[j], dm.datasets["test"].load(j))
        assert dm.datasets["test"].files[j] == tmp_path / image_id[len("folder:"):]


def test_train_and_val_batches_stay_bare_tensors(kaggle_root):
    dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=32, batch_size=4, num_workers=0)
    assert isinstance(next(iter(dm.train_dataloader())), torch.Tensor)
    assert isinstance(next(iter(dm.val_dataloader())), torch.Tensor)
    assert len(dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)) == 2


def test_on_device_test_batches_carry_positions(kaggle_root):
    images = load_to_device(KaggleLabDataset(kaggle_root), "cpu")
    batches = list(DeviceBatchLoader(images, 6, shuffle=False, drop_last=False, with_positions=True))
    assert [b.shape[0] for b, _ in batches] == [6, 6, 4]
    assert torch.equal(torch.cat([p for _, p in batches]), torch.arange(16))
    shards = [list(DeviceBatchLoader(images, 3, shuffle=False, drop_last=False, num_replicas=2, rank=r,
                                     with_positions=True)) for r in (0, 1)]
    for shard in shards:
        for batch, pos in shard:
            assert torch.equal(batch, images[pos])
    dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=32, batch_size=3, num_workers=0,
                                on_device=True, val_fraction=0.25, test_fraction=0.25)
    dm.setup()
    got, positions = _test_batches(dm)
    assert positions.tolist() == list(range(4)) and torch.equal(got, dm.datasets["test"].get_batch(range(4)))


def test_gathered_values_hold_each_image_once_in_position_order(tmp_path):
    def part(positions, base):
        pos = torch.tensor(positions)
        return pos, {k: pos.float() * 10 + base + j for j, k in enumerate(IMAGE_METRIC_KEYS)}

    # The distributed sampler pads with repeats of the first images: 0 comes twice.
    merged = gather_image_values([part([2, 0], 0.0), part([1, 0], 0.0)])
    assert merged["position"].tolist() == [0, 1, 2]
    assert merged["psnr"].tolist() == [0.0, 10.0, 20.0] and merged["cf_true"].tolist() == [8.0, 18.0, 28.0]
    assert gather_image_values([]) is None

    path = write_image_metrics(tmp_path / "test_images.csv", ["a", "b", "c"], merged)
    with path.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "psnr", "psnr_gray", "ssim", "ssim_gray", "auc", "auc_gray", "cf", "cf_gray",
                       "cf_true"]
    assert [r[0] for r in rows[1:]] == ["a", "b", "c"]
    third = torch.tensor([1 / 3], dtype=torch.float32)
    write_image_metrics(path, ["x"], {k: third for k in IMAGE_METRIC_KEYS})
    with path.open() as f:
        assert float(list(csv.reader(f))[1][1]) == third.item()  # full precision: reads back exact
    with pytest.raises(ValueError, match="2 image ids"):
        write_image_metrics(path, ["x", "y"], {k: third for k in IMAGE_METRIC_KEYS})
