"""Test batches that say which images they hold: ``(lab8, positions)`` instead of bare uint8 bytes.

Per-image test results (``test_images.csv``) need each image's position in its split, through batching, the
distributed sampler (which pads a rank's share with repeats) and the transfer to the device. Only the test split
is wrapped, so training batches stay bare tensors and pay nothing.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset


class WithPositions(Dataset):
    """``ds[i] -> (item, i)``; batched by the default collate into ``(uint8 [B,3,H,W], int64 [B])``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return self.dataset[i], int(i)


class BatchesWithPositions(WithPositions):
    """For datasets with a batched ``__getitems__`` (memmaps): ``(uint8 [B,3,H,W], positions int64 [B])``
    from one vectorised read; use it with a collate_fn that passes the batch through."""

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.__getitems__(positions), torch.as_tensor(positions, dtype=torch.int64)


def with_positions(dataset: Dataset) -> WithPositions:
    """``dataset`` whose items (or batches) come with their positions in it."""
    return BatchesWithPositions(dataset) if hasattr(dataset, "__getitems__") else WithPositions(dataset)
