"""The random resized crop, per image (kornia's ``slice``) against one warp for the batch (``resample``).

    python benchmarks/bench_augment.py                  # batch 128 at 64 and 224 px, the CPU
    python benchmarks/bench_augment.py --device cuda    # the same on a GPU

Times :class:`~colorization.data.augment.BatchAugment` (crop 0.6-1, ratio 3/4-4/3, flip: ``conf/data``) on a
float LAB batch, each way of cutting in turn (``cropping_mode`` forced), after a warm-up, synchronised at the
ends of each timed run only. Prints a Markdown table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from unittest import mock

import colorization  # noqa: F401 - sets OMP_WAIT_POLICY before torch loads OpenMP

# isort: split
import torch

from colorization.data import augment
from colorization.data.augment import BatchAugment

MODES = ("slice", "resample")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_crop(mode: str, size: int, batch: int, device: torch.device, repeats: int) -> float:
    """Milliseconds per batch of ``BatchAugment`` cutting ``batch`` images of ``size``² the ``mode`` way."""
    x = torch.rand(batch, 3, size, size, device=device)
    with mock.patch.object(augment, "cropping_mode", lambda _: mode):
        aug = BatchAugment(hflip_p=0.5, crop_scale=(0.6, 1.0), crop_ratio=(0.75, 4 / 3), size=size)
        aug(x)  # warm-up: kornia builds its generator, the allocator its pool
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            aug(x)
        _sync(device)
    return (time.perf_counter() - start) / repeats * 1000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = [{"size": s, "mode": m, "ms_per_batch": round(time_crop(m, s, args.batch, device, args.repeats), 2)}
            for s in args.sizes for m in MODES]
    print(f"| {device.type}, batch {args.batch} | " + " | ".join(f"{m} ms" for m in MODES) + " |")
    print("|---|" + "---:|" * len(MODES))
    for s in args.sizes:
        print(f"| {s}² | " + " | ".join(f"{r['ms_per_batch']:.1f}" for r in rows if r["size"] == s) + " |")
    result = {"device": device.type, "batch": args.batch, "threads": torch.get_num_threads(), "rows": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
