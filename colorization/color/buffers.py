"""Reusable float32 buffers for converting uint8 batches on the CPU."""

from __future__ import annotations

import threading

import torch


class FloatBufferPool:
    """Reusable float32 buffers for batch conversion on the CPU.

    A fresh 38 MB float batch (64 x 3 x 224 x 224) is served by ``mmap`` and page-faulted in on first touch: on
    the CPU that costs ~15-20 ms, 5-10x the conversion itself. A buffer is handed out again only once nothing
    outside the pool holds its storage (the caller dropped ``L``, ``ab`` and every view of them), so reuse is
    never visible to a caller. CUDA's caching allocator already does this on GPUs, so only CPU batches use it.

    Args:
        max_buffers: buffers kept per shape (a caller holding more batches than this gets fresh ones).
    """

    def __init__(self, max_buffers: int = 4) -> None:
        self.max_buffers = int(max_buffers)
        self._local = threading.local()  # one pool per thread: no locking, no sharing between threads

    @staticmethod
    def _use_count(buf: torch.Tensor) -> int:
        return int(torch._C._storage_Use_Count(buf.untyped_storage()._cdata))

    def get(self, shape: tuple[int, ...]) -> torch.Tensor:
        """A float32 CPU tensor of ``shape`` (contents undefined) that no one else references."""
        pools: dict = self._local.__dict__.setdefault("pools", {})
        entries: list[tuple[torch.Tensor, int]] = pools.setdefault(tuple(shape), [])
        for buf, idle_count in entries:
            if self._use_count(buf) == idle_count:
                return buf
        # Never an inference tensor: a buffer first made during val/test is reused by training steps later.
        with torch.inference_mode(False):
            buf = torch.empty(shape, dtype=torch.float32)
        if len(entries) < self.max_buffers:
            entries.append((buf, self._use_count(buf)))  # the count while only the pool holds it
        return buf


CPU_BUFFERS = FloatBufferPool()
