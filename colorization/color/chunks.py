"""Row-chunked work on big images: parallel chunks with one intra-op thread each."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to ``n``."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def for_each_chunk(work: Callable[[int], None], height: int, rows: int, workers: int | None) -> None:
    """Call ``work(first_row)`` for every ``rows``-row chunk of ``height`` rows, on ``workers`` threads.

    Chunks run in parallel with torch's intra-op threads set to one, instead of one chunk at a time with
    intra-op threads: on a CPU shared with other processes, the intra-op barrier after every small op waits
    for a descheduled thread, which made the same work 4-10x slower in measurements; independent chunks do not
    wait for each other. ``workers`` None means torch's thread count.
    """
    starts = range(0, height, max(1, rows))
    workers = torch.get_num_threads() if workers is None else workers
    if workers <= 1 or len(starts) <= 1:
        with torch_threads(1):
            for r in starts:
                work(r)
        return
    # Inference and grad modes are thread-local: carry the caller's into the workers.
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def run(r: int) -> None:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            work(r)

    with torch_threads(1), ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(run, starts):  # re-raises a worker's exception
            pass
