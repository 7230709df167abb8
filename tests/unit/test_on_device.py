"""The GPU fast path on the CPU: a dataset held on the device gives the same batches, and the same training."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from colorization.color import lab8_to_normalized, rgb_to_lab8
from colorization.color.buffers import FloatBufferPool
from colorization.data import ColorizationDataModule, KaggleLabDataset, prepare_batch, write_kaggle_layout
from colorization.data.datamodule import pass_batch
from colorization.data.on_device import DeviceBatchLoader, load_to_device
from colorization.training.module import ColorizationModule


@pytest.fixture
def kaggle_root(tmp_path, real_crops):
    crops = torch.from_numpy(real_crops[:, :32, :32].copy()).permute(0, 3, 1, 2)  # 16 real 32 px crops
    return write_kaggle_layout(tmp_path / "kaggle", rgb_to_lab8(crops).numpy(), splits=(6, 5, 5))


def test_device_images_match_the_memmap(kaggle_root):
    ds = KaggleLabDataset(kaggle_root)
    images = load_to_device(ds, "cpu", chunk=5)  # chunks that do not divide 16
    assert images.dtype == torch.uint8 and images.shape == (16, 3, 32, 32)
    assert torch.equal(images, ds.get_batch(range(16)))


@pytest.mark.parametrize("drop_last", [True, False])
def test_same_epochs_as_the_dataloader(kaggle_root, drop_last):
    ds = KaggleLabDataset(kaggle_root)
    loader = DataLoader(ds, batch_size=5, shuffle=True, drop_last=drop_last, collate_fn=pass_batch,
                        generator=torch.Generator().manual_seed(7))
    on_dev = DeviceBatchLoader(load_to_device(ds, "cpu"), batch_size=5, shuffle=True, drop_last=drop_last, seed=7)
    assert len(on_dev) == len(loader) == (3 if drop_last else 4)
    epochs = []
    for _ in range(3):  # the generator carries on across epochs in both
        ours, theirs = list(on_dev), list(loader)
        assert [b.shape for b in ours] == [b.shape for b in theirs]
        assert all(torch.equal(a, b) and a.dtype == b.dtype == torch.uint8 for a, b in zip(ours, theirs, strict=True))
        epochs.append(torch.cat(ours))
    assert not torch.equal(epochs[0], epochs[1])  # a fresh permutation each epoch


def test_ranks_take_disjoint_shards(kaggle_root):
    images = load_to_device(KaggleLabDataset(kaggle_root), "cpu")
    ids = images[:, 0].float().mean(dim=(1, 2))  # the crops are distinct: the mean L tells them apart
    assert ids.unique().numel() == 16
    shards = [torch.cat(list(DeviceBatchLoader(images, 4, seed=3, num_replicas=2, rank=r))) for r in (0, 1)]
    assert all(s.shape[0] == 8 for s in shards)
    seen = torch.cat([s[:, 0].float().mean(dim=(1, 2)) for s in shards])
    assert seen.unique().numel() == 16  # every image exactly once across the two ranks


def test_unshuffled_loader_keeps_order_and_last_batch(kaggle_root):
    images = load_to_device(KaggleLabDataset(kaggle_root), "cpu")
    batches = list(DeviceBatchLoader(images, 6, shuffle=False, drop_last=False))
    assert [b.shape[0] for b in batches] == [6, 6, 4]
    assert torch.equal(torch.cat(batches), images)


def test_pooled_conversion_is_exact_and_never_reuses_a_live_buffer():
    lab8 = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    pool = FloatBufferPool(max_buffers=2)
    L1, ab1 = prepare_batch(lab8, pool=pool)
    first = L1.data_ptr()
    ref_L, ref_ab = lab8_to_normalized(lab8)
    assert torch.equal(L1, ref_L) and torch.equal(ab1, ref_ab)  # bit-identical to the reference arithmetic
    view = L1[0]  # a view alone keeps the buffer busy
    del L1, ab1
    L2, _ = prepare_batch(lab8, pool=pool)
    assert L2.data_ptr() != view.data_ptr()
    assert torch.equal(view, ref_L[0])  # not overwritten
    second = L2.data_ptr()
    del view, L2, _
    L3, _ = prepare_batch(lab8.flip(0), pool=pool)
    assert L3.data_ptr() in {first, second}  # released buffers are served again
    assert torch.equal(L3, lab8_to_normalized(lab8.flip(0))[0])


class _Losses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []
        self.batches: list[tuple] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))
        self.batches.append(tuple((t.shape, t.dtype, t.device.type) for t in batch))


def _fit(root, on_device: bool) -> _Losses:
    L.seed_everything(0, workers=True)
    dm = ColorizationDataModule(source="kaggle", root=root, image_size=32, batch_size=4, num_workers=0,
                                val_fraction=0.125, test_fraction=0.0625, seed=5, on_device=on_device,
                                augment={"enabled": False})
    module = ColorizationModule(model={"name": "vanilla", "widths": [8, 16, 32]}, loss={"name": "l1"},
                                optimizer={"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-2})
    rec = _Losses()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=3, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0, callbacks=[rec], deterministic=True)
    trainer.fit(module, datamodule=dm)
    return rec


def test_same_loss_trajectory_with_and_without_on_device(kaggle_root):
    plain, on_dev = _fit(kaggle_root, False), _fit(kaggle_root, True)
    assert len(plain.losses) == len(on_dev.losses) == 9  # 13 train images // 4, three epochs
    assert plain.batches == on_dev.batches  # (L, ab) shapes, dtypes, devices identical
    assert on_dev.batches[0] == ((torch.Size([4, 1, 32, 32]), torch.float32, "cpu"),
                                 (torch.Size([4, 2, 32, 32]), torch.float32, "cpu"))
    assert on_dev.losses == pytest.approx(plain.losses, rel=1e-4, abs=1e-6)
    assert on_dev.losses[-1] < on_dev.losses[0]  # it trains


def test_a_buffer_first_made_under_inference_mode_serves_training_later():
    # Validation runs under inference mode; a pooled buffer it created must still take a training batch's copy.
    pool = FloatBufferPool(max_buffers=1)
    lab8 = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    with torch.inference_mode():
        val_batch = prepare_batch(lab8, pool=pool)
    del val_batch  # the pool may hand its buffer out again
    L_train, ab_train = prepare_batch(lab8, pool=pool)  # the same buffer, reused outside inference mode
    assert not L_train.is_inference() and torch.equal(L_train, lab8_to_normalized(lab8)[0])


@pytest.mark.parametrize("world", [2, 3, 5])
def test_val_and_test_shards_are_padded_so_no_image_is_left_out(kaggle_root, world):
    """16 images over 3 ranks: 6 each, the first 2 images twice (as DistributedSampler pads); main 34bb835 gave
    each rank 5 and never tested image 15."""
    images = load_to_device(KaggleLabDataset(kaggle_root), "cpu")
    shards = [DeviceBatchLoader(images, 4, shuffle=False, drop_last=False, num_replicas=world, rank=r,
                                with_positions=True) for r in range(world)]
    per_rank = -(-16 // world)
    assert all(len(s) == -(-per_rank // 4) for s in shards)
    positions = [torch.cat([pos for _, pos in s]) for s in shards]
    assert [p.numel() for p in positions] == [per_rank] * world
    seen = torch.cat(positions)
    assert sorted(seen.unique().tolist()) == list(range(16))
    repeats = seen.numel() - 16
    assert sorted(seen.tolist()) == sorted(list(range(16)) + list(range(repeats)))  # the first ones again
    for s, pos in zip(shards, positions, strict=True):  # each batch's images are the ones its positions name
        assert torch.equal(torch.cat([b for b, _ in s]), images[pos])


def test_training_shards_still_drop_the_remainder(kaggle_root):
    images = load_to_device(KaggleLabDataset(kaggle_root), "cpu")
    shards = [torch.cat(list(DeviceBatchLoader(images, 2, seed=1, num_replicas=3, rank=r))) for r in range(3)]
    assert [s.shape[0] for s in shards] == [4, 4, 4]  # 16 // 3 = 5 each, whole batches of 2


def test_teardown_lets_go_of_the_device_copy(kaggle_root):
    dm = ColorizationDataModule(source="kaggle", root=kaggle_root, image_size=32, batch_size=4, num_workers=0,
                                on_device=True, val_fraction=0.25, test_fraction=0.25)
    loader = dm.val_dataloader()
    held = loader.images
    assert dm._device_images["val"] is held
    dm.teardown("fit")
    assert dm._device_images == {}
    assert torch.equal(dm.val_dataloader().images, held)  # the next stage loads it again
