"""A dataset held whole on the accelerator, sampled there: no DataLoader workers, no host copies per batch.

``data.on_device=true`` swaps the datamodule's DataLoaders for :class:`DeviceBatchLoader`. The uint8 LAB images
(the Kaggle set is 3.76 GB; floats would be four times that) are copied to the device once; each batch is an
``index_select`` of a seeded permutation that also lives there. Batches are the same uint8 ``[B, 3, H, W]`` the
DataLoader yields, so ``on_after_batch_transfer`` (conversion, kornia crops and flips) runs unchanged, on the GPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Dataset


def read_images(dataset: Dataset, positions: Sequence[int]) -> torch.Tensor:
    """Items ``positions`` of ``dataset`` (uint8 ``[3, H, W]`` each) as uint8 ``[N, 3, H, W]`` on the CPU."""
    if hasattr(dataset, "get_batch"):  # memmap sources: one vectorised read
        return dataset.get_batch(positions)
    # A folder of photos: decoded one by one, once.
    return torch.stack([torch.as_tensor(dataset[int(i)]) for i in positions])


def load_to_device(dataset: Dataset, device: torch.device | str, chunk: int = 512) -> torch.Tensor:
    """All of ``dataset`` (uint8 ``[3, H, W]`` items) as uint8 ``[N, 3, H, W]`` on ``device``, ``chunk`` at a time.

    Only one chunk is ever staged in host memory (pinned when the target is CUDA, so the copy is a DMA).
    """
    n = len(dataset)
    first = read_images(dataset, range(0, min(n, chunk)))
    device = torch.device(device)
    out = torch.empty((n, *first.shape[1:]), dtype=torch.uint8, device=device)
    pin = device.type == "cuda"
    for start in range(0, n, chunk):
        part = first if start == 0 else read_images(dataset, range(start, min(n, start + chunk)))
        if pin:
            part = part.pin_memory()
        out[start : start + part.shape[0]].copy_(part, non_blocking=pin)
    if pin:
        torch.cuda.synchronize(device)  # the pinned chunks must outlive their copies
    return out


class DeviceBatchLoader:
    """Batches of uint8 LAB ``[B, 3, H, W]`` drawn from ``images`` on their own device.

    Epoch semantics match ``DataLoader(shuffle=shuffle, drop_last=drop_last,
    generator=torch.Generator().manual_seed(seed))``: every epoch is a fresh permutation from the same draws
    the DataLoader makes (a seed draw for its workers, ``randperm``, and the ``RandomSampler``'s second
    ``randperm`` when an epoch is used up), so with the same seed the batches are the same images in the same
    order, epoch after epoch. Under DDP each of ``num_replicas`` ranks takes every
    ``num_replicas``-th index of the shared permutation (the generator is seeded alike on every rank); without
    ``drop_last`` (val, test) the permutation is first padded with its own first indices to a multiple of
    ``num_replicas``, as ``DistributedSampler`` does, so every image is seen (some twice) whatever the world size.

    With ``with_positions`` each batch is ``(images [B, 3, H, W], positions int64 [B])`` on the device, the
    positions of its images in ``images`` (the test split: per-image results), as the datamodule's test
    DataLoader yields them.

    Args:
        images: uint8 ``[N, 3, H, W]`` on the device (see :func:`load_to_device`).
        batch_size: images per batch.
        shuffle: a new seeded permutation per epoch; otherwise the stored order.
        drop_last: drop the last incomplete batch.
        seed: seed of the shuffle generator.
        num_replicas, rank: data-parallel sharding (1, 0 for one device).
        with_positions: yield ``(images, positions)`` instead of bare images.
    """

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        with_positions: bool = False,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 images [N, 3, H, W], got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.with_positions = bool(with_positions)
        self.generator = torch.Generator().manual_seed(int(seed))  # CPU: same draws as the DataLoader's

    def _per_rank(self) -> int:
        """Images each rank sees per epoch: its share, rounded down when dropping the last batch (training),
        else up (the shares are then padded, as ``DistributedSampler`` pads them: no image is left out)."""
        n = self.images.shape[0]
        return n // self.num_replicas if self.drop_last else -(-n // self.num_replicas)

    def __len__(self) -> int:
        n = self._per_rank()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> torch.Tensor:
        n = self.images.shape[0]
        if not self.shuffle:
            return torch.arange(n)
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)  # the DataLoader's worker-seed draw
        return torch.randperm(n, generator=self.generator)

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        order = self._order()
        if self.num_replicas > 1:
            total = self._per_rank() * self.num_replicas
            if total > order.numel():  # pad with the first images again; gathering the results drops the repeats
                order = torch.cat([order, order[: total - order.numel()]])
            order = order[:total][self.rank :: self.num_replicas]
        # One small host-to-device copy per epoch; slicing it afterwards never waits for the device.
        order = order.to(self.images.device, non_blocking=True)
        for b in range(len(self)):
            positions = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = self.images.index_select(0, positions)
            yield (batch, positions) if self.with_positions else batch
        if self.shuffle:  # RandomSampler's draw for the (empty) remainder, made when its epoch runs out
            torch.randperm(self.images.shape[0], generator=self.generator)
