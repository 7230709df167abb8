"""``ColorizationDataModule``: the sample set, the Kaggle arrays or a folder of photos, as uint8 LAB batches.

Batches leave the DataLoader as uint8 ``[B, 3, H, W]`` on the CPU. Once on the device,
:meth:`ColorizationDataModule.on_after_batch_transfer` turns them into ``(L, ab)`` floats with
:func:`colorization.data.augment.prepare_batch`, augmenting training batches with
:meth:`ColorizationDataModule.make_batch_augment`. Test batches also say which images they hold:
``(lab8, positions int64 [B])`` -> ``(L, ab, positions)``, each position naming its image through
:meth:`ColorizationDataModule.image_ids` (per-image test results).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from colorization.data.augment import BatchAugment, prepare_batch
from colorization.data.folder import ImageFolderLab, scan_images
from colorization.data.indexed import with_positions
from colorization.data.kaggle import DatasetError, KaggleLabDataset
from colorization.data.on_device import DeviceBatchLoader, load_to_device, read_images
from colorization.data.options import DEFAULT_AUGMENT, check_data_options
from colorization.data.sample import build_sample_set, sample_image_names

log = logging.getLogger(__name__)



def pass_batch(batch: torch.Tensor) -> torch.Tensor:
    """collate_fn for datasets whose ``__getitems__`` already returns the stacked batch."""
    return batch


def split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """``(train, val, test)`` sizes; a positive fraction always holds out at least one item."""
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    if n_val + n_test >= n:
        raise DatasetError(f"cannot hold out {n_val} val + {n_test} test of {n} images and keep any for training")
    return n - n_val - n_test, n_val, n_test


def seeded_split(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Seeded permutation of ``range(n)`` cut into sorted ``train / val / test`` index arrays."""
    n_train, n_val, _ = split_counts(n, val_fraction, test_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train : n_train + n_val]),
            "test": np.sort(perm[n_train + n_val :])}


class ColorizationDataModule(L.LightningDataModule):
    """Train / val / test DataLoaders of uint8 LAB ``[B, 3, H, W]`` from one of three sources.

    Args:
        source: ``"sample"`` (built-in photos, built into ``root``), ``"kaggle"`` (Kaggle layout at ``root``)
            or ``"folder"`` (any tree of photos at ``root``).
        root: the data folder (for ``sample``: the cache folder, e.g. ``${paths.data_dir}/sample``).
        image_size: side of the images the network sees. The sample set is cut at this size and a folder is
            resized to it; Kaggle arrays keep their stored size and are resized on the device when it differs.
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
        memmap_workers: workers for the memmap sources (``sample``, ``kaggle``); ``None`` uses ``num_workers``.
            0 is fastest on few cores: slicing a memmap in-process (~5 ms per batch of 64 at 224 px) beats
            shipping the batch from a worker through shared memory. Decoding photos (``folder``) needs workers.
        val_fraction, test_fraction: held-out fractions for ``kaggle`` and ``folder`` (the sample set splits
            by photo instead, see ``sample``).
        seed: seed of the splits (and of the sample set unless ``sample["seed"]`` is given).
        augment: ``enabled``, ``hflip_p``, ``crop_scale``, ``crop_ratio``, ``crop_p`` for :class:`BatchAugment`
            (applied on the device, training only).
        sample: parameters of :func:`~colorization.data.sample.build_sample_set` (``crops_per_photo``,
            ``val_photos``, ``test_photos``, ``min_cover``, ``seed``, ``ab_files``).
        drop_last: drop the last incomplete training batch.
        gray_tolerance: for ``folder``, channels this close count as a grayscale photo (skipped).
        cache_dir: where the ab prior (classification loss) is cached when ``root`` is read-only (a notebook's
            ``/kaggle/input``); ``None``: the system's temporary folder. A writable ``root`` keeps it beside it.
        on_device: keep every split whole on the trainer's device as uint8 and sample batches there
            (:class:`~colorization.data.on_device.DeviceBatchLoader`, same seeded epoch order as the DataLoader):
            no workers and no host-to-device copy per batch. For GPUs with room for the set (Kaggle: 3.76 GB).
    """

    def __init__(
        self,
        source: str = "sample",
        root: str | Path = "data/sample",
        image_size: int = 64,
        batch_size: int = 64,
        num_workers: int = 2,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        memmap_workers: int | None = 0,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        seed: int = 0,
        augment: Mapping[str, Any] | None = None,
        sample: Mapping[str, Any] | None = None,
        drop_last: bool = True,
        gray_tolerance: int = 2,
        on_device: bool = False,
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.augment = {**DEFAULT_AUGMENT, **dict(augment or {})}
        self.sample = dict(sample or {})
        check_data_options(source, image_size, batch_size, num_workers, memmap_workers, val_fraction,
                           test_fraction, gray_tolerance, self.augment, self.sample)
        self.source = source
        self.root = Path(root)
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers)
        self.memmap_workers = None if memmap_workers is None else int(memmap_workers)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.gray_tolerance = int(gray_tolerance)
        self.on_device = bool(on_device)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "colorization"
        self._device_images: dict[str, torch.Tensor] = {}
        self.datasets: dict[str, Dataset] = {}
        self.sample_dir: Path | None = None
        self._augment_module: BatchAugment | bool | None = None

    # ---------------------------------------------------------------- datasets
    def prepare_data(self) -> None:
        """Build the sample set once (rank zero); other sources need no preparation."""
        if self.source == "sample":
            self._build_sample()

    def _build_sample(self) -> Path:
        params = {"crops_per_photo": 32, "val_photos": 2, "test_photos": 2, "min_cover": 0.35, "ab_files": 3,
                  "seed": self.seed, **self.sample}
        self.sample_dir = build_sample_set(self.root, crop_size=self.image_size, **params)
        return self.sample_dir

    def check_source(self) -> None:
        """Fail now, before a model or trainer exists, if the source is missing or malformed (naming the file):
        this is :meth:`setup` (headers, a folder's scan, the sample build), so the trainer's call costs nothing."""
        self.setup()

    def setup(self, stage: str | None = None) -> None:
        """Create the train / val / test datasets (idempotent; cheap: nothing is read but headers)."""
        if self.datasets:
            return
        if self.source == "sample":
            folder = self._build_sample()  # returns at once when prepare_data already built it
            self.datasets = {s: KaggleLabDataset(folder / s, names=sample_image_names(folder, s))
                             for s in ("train", "val", "test")}
        elif self.source == "kaggle":
            full = KaggleLabDataset(self.root)
            parts = seeded_split(len(full), self.val_fraction, self.test_fraction, self.seed)
            self.datasets = {s: KaggleLabDataset(self.root, indices=idx) for s, idx in parts.items()}
        else:
            scan = scan_images(self.root, gray_tolerance=self.gray_tolerance)
            if not scan.files:
                raise DatasetError(f"no usable colour images under {self.root} "
                                   f"({len(scan.grayscale)} grayscale, {len(scan.unreadable)} unreadable)")
            parts = seeded_split(len(scan.files), self.val_fraction, self.test_fraction, self.seed)
            self.datasets = {s: ImageFolderLab(self.root, self.image_size, files=[scan.files[i] for i in idx])
                             for s, idx in parts.items()}
            self.skipped = {"grayscale": scan.grayscale, "unreadable": scan.unreadable}
        log.info("data %s at %s: %s", self.source, self.root, {s: len(d) for s, d in self.datasets.items()})

    @property
    def data_train(self) -> Dataset | None:
        return self.datasets.get("train")

    @property
    def data_val(self) -> Dataset | None:
        return self.datasets.get("val")

    @property
    def data_test(self) -> Dataset | None:
        return self.datasets.get("test")

    def fixed_images(self, count: int, split: str = "val") -> torch.Tensor | None:
        """``count`` images of ``split`` as stored, uint8 LAB ``[N, 3, H, W]`` on the CPU (N <= count), or
        ``None`` when the split is empty.

        Spread evenly over the split (and so over its photos) and the same ones on every call: what a sample grid
        shows epoch after epoch. They become network floats like any batch, via :meth:`on_after_batch_transfer`.
        """
        if not self.datasets:
            self.setup()
        dataset = self.datasets.get(split)
        if dataset is None or len(dataset) == 0 or count < 1:
            return None
        positions = np.unique(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int))
        return read_images(dataset, positions.tolist())

    def image_ids(self, split: str, positions: Any) -> list[str]:
        """The ids of the images at ``positions`` (ints, e.g. a test batch's positions) of ``split``: names of
        their source, the same in every run and seed over the same data (``sample:<set>/<photo>/<crop>``,
        ``kaggle:<index in the full arrays>``, ``folder:<path relative to root>``)."""
        if not self.datasets:
            self.setup()
        dataset = self.datasets[split]
        return [dataset.image_id(int(i)) for i in torch.as_tensor(positions).reshape(-1).tolist()]

    def prior_source(self) -> tuple[Dataset, Path]:
        """The training set and where its ab prior (for the classification loss) is cached, beside the data.

        The cache name carries the split, so a different seed or fraction never reuses another split's prior.
        """
        if not self.datasets:
            self.setup()
        if self.source == "sample":
            assert self.sample_dir is not None
            return self.datasets["train"], self.sample_dir / "train" / "ab_prior.npy"
        split = f"seed{self.seed}_val{self.val_fraction:g}_test{self.test_fraction:g}"
        if self.source == "folder":
            split += f"_size{self.image_size}"
        if os.access(self.root, os.W_OK):
            return self.datasets["train"], self.root / f"ab_prior_{split}.npy"
        # A read-only mount: the data folder's name keeps two sources' priors apart in the shared cache folder.
        return self.datasets["train"], self.cache_dir / f"{self.root.name}_ab_prior_{split}.npy"

    # ---------------------------------------------------------------- augmentation
    def make_batch_augment(self) -> BatchAugment | None:
        """The on-device training augmentation, or ``None`` when ``augment.enabled`` is false."""
        a = self.augment
        if not a.get("enabled", True):
            return None
        return BatchAugment(hflip_p=a["hflip_p"], crop_scale=tuple(a["crop_scale"]),
                            crop_ratio=tuple(a["crop_ratio"]), size=self.image_size, crop_p=a["crop_p"])

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> tuple[torch.Tensor, ...]:
        """uint8 LAB ``[B,3,H,W]`` on the device -> ``(L [B,1,H,W] in [-1,1], ab [B,2,H,W])``, augmented while
        training. The one place where stored bytes become network floats. A test batch ``(lab8, positions)``
        -> ``(L, ab, positions int64 [B])``."""
        if isinstance(batch, tuple | list):
            lab8, positions = batch
            return (*self.on_after_batch_transfer(lab8, dataloader_idx), positions)
        if self._augment_module is None:
            self._augment_module = self.make_batch_augment() or False
        training = self.trainer is not None and self.trainer.training
        aug = self._augment_module or None
        if aug is not None:
            aug = aug.to(batch.device)
        return prepare_batch(batch, augment=training and aug is not None, aug=aug, size=self.image_size)

    # ---------------------------------------------------------------- loaders
    def _device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _device_loader(self, split: str, train: bool) -> DeviceBatchLoader:
        device = self._device()
        images = self._device_images.get(split)
        if images is None or images.device != device:
            images = self._device_images[split] = load_to_device(self.datasets[split], device)
            log.info("data %s: %d images held on %s (%.2f GB uint8)", split, images.shape[0], device,
                     images.numel() / 1e9)
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)
        return DeviceBatchLoader(images, self.batch_size, shuffle=train,
                                 drop_last=train and self.drop_last and images.shape[0] >= self.batch_size,
                                 seed=self.seed, num_replicas=world, rank=rank, with_positions=split == "test")

    def _loader(self, split: str, train: bool) -> DataLoader | DeviceBatchLoader:
        if not self.datasets:
            self.setup()
        if self.on_device:
            return self._device_loader(split, train)
        ds = self.datasets[split]
        if split == "test":  # per-image results: each batch says which images it holds
            ds = with_positions(ds)
        batched = hasattr(ds, "__getitems__")
        workers = self.num_workers if not batched or self.memmap_workers is None else self.memmap_workers
        kwargs: dict[str, Any] = {}
        if workers > 0:
            kwargs["persistent_workers"] = self.persistent_workers
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=train and self.drop_last and len(ds) >= self.batch_size,
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            # Kaggle-layout sets return a whole batch from one vectorised read (__getitems__).
            collate_fn=pass_batch if batched else None,
            generator=torch.Generator().manual_seed(self.seed) if train else None,
            **kwargs,
        )

    def teardown(self, stage: str) -> None:
        """After fit / validate / test: let go of the splits held on the device (``on_device``), so the memory is
        free for what comes next (the test after the fit, the next job of a sweep). A later stage loads its split
        again."""
        self._device_images.clear()

    def train_dataloader(self) -> DataLoader | DeviceBatchLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader | DeviceBatchLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader | DeviceBatchLoader:
        return self._loader("test", train=False)
