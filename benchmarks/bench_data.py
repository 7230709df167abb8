"""Data-path benchmark: open a Kaggle-layout set and stream batches into normalised floats.

    python benchmarks/bench_data.py                # 25000 x 224 x 224, as the Kaggle download (~3.7 GB)
    python benchmarks/bench_data.py --n 2000       # quick run

Writes a synthetic array of the real shape under ``--dir`` (reused when present), then measures
(a) the time and resident memory of opening it and (b) images/s of batches of 64 through the DataLoader into
normalised float tensors (:func:`prepare_batch` on the CPU, standing in for the device), for several loader
settings. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from colorization import prefer_passive_omp_waits

prefer_passive_omp_waits()  # OMP_WAIT_POLICY, before torch loads OpenMP

# isort: split
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from colorization.data.augment import BatchAugment, prepare_batch  # noqa: E402
from colorization.data.datamodule import pass_batch  # noqa: E402
from colorization.data.kaggle import GRAY_FILE, KaggleLabDataset  # noqa: E402


def rss_mb() -> float:
    """Current resident memory of this process in MB (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_synthetic(root: Path, n: int, size: int, per_file: int) -> Path:
    """A Kaggle-layout set of ``n`` smooth random images (written in chunks; never all in RAM)."""
    if (root / "done").is_file():
        return root
    (root / "l").mkdir(parents=True, exist_ok=True)
    (root / "ab" / "ab").mkdir(parents=True, exist_ok=True)
    gray = np.lib.format.open_memmap(root / GRAY_FILE, mode="w+", dtype=np.uint8, shape=(n, size, size))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(64, size, size, 3), dtype=np.uint8)  # tiles: writing stays disk-bound
    for k, start in enumerate(range(0, n, per_file), start=1):
        count = min(per_file, n - start)
        ab = np.lib.format.open_memmap(root / "ab" / "ab" / f"ab{k}.npy", mode="w+", dtype=np.uint8,
                                       shape=(count, size, size, 2))
        for s in range(0, count, 64):
            m = min(64, count - s)
            tile = np.roll(base[:m], shift=(start + s) % size, axis=1)
            gray[start + s : start + s + m] = tile[..., 0]
            ab[s : s + m] = tile[..., 1:]
        ab.flush()
        del ab
    gray.flush()
    (root / "done").write_text(f"{n} {size}\n")
    return root


def warm_page_cache(root: Path, chunk_mb: int = 64) -> float:
    """Read every array once so loader figures are the steady state (every epoch after the first) and not the
    disk; returns the seconds it took (about 0 when the set is already cached)."""
    t = time.perf_counter()
    for path in sorted(root.rglob("*.npy")):
        with open(path, "rb") as f:
            while f.read(chunk_mb * 2**20):
                pass
    return time.perf_counter() - t


def measure_open(root: Path) -> dict:
    """Open in a fresh interpreter, so the RSS is the cost of opening and not of this script's history."""
    code = ("import os,time;from colorization.data.kaggle import KaggleLabDataset;"
            "rss=lambda: int(open('/proc/self/statm').read().split()[1])*os.sysconf('SC_PAGE_SIZE')/2**20;"
            f"r0=rss();t1=time.perf_counter();ds=KaggleLabDataset({str(root)!r});t2=time.perf_counter();"
            "print(len(ds), t2-t1, rss(), rss()-r0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    # rss_mb includes the interpreter and torch itself (about 700 MB with this torch build).
    return {"images": int(out[0]), "open_s": float(out[1]), "rss_mb": float(out[2]),
            "rss_added_by_open_mb": float(out[3])}


def measure_loader(root: Path, batch_size: int, workers: int, pin: bool, batches: int, normalise: bool,
                   aug: BatchAugment | None = None) -> dict:
    """images/s of shuffled batches; ``normalise`` also runs :func:`prepare_batch` (uint8 -> floats) on the CPU,
    augmenting with ``aug`` (kornia crop + flip, as in training) when given."""
    ds = KaggleLabDataset(root)
    kwargs = {"persistent_workers": True, "prefetch_factor": 4} if workers else {}
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=pin and torch.cuda.is_available(), collate_fn=pass_batch,
                        generator=torch.Generator().manual_seed(0), **kwargs)
    it = iter(loader)
    for _ in range(3):  # warm-up: worker start, first pages
        next(it)
    n = 0
    checksum = 0.0
    t = time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        if normalise:
            L, ab = prepare_batch(batch, augment=aug is not None, aug=aug)
            checksum += float(L[:, 0, 0, 0].sum())  # touch the result so nothing is skipped
        else:
            checksum += int(batch[:, 0, 0, 0].sum())
        n += batch.shape[0]
    dt = time.perf_counter() - t
    del it
    return {"normalise": normalise, "augment": aug is not None, "workers": workers,
            "pin_memory": pin and torch.cuda.is_available(), "batch_size": batch_size, "images": n, "seconds": dt,
            "images_per_s": n / dt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=25000, help="images in the synthetic set")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--dir", default="/tmp/colorization_bench_kaggle")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=200, help="timed batches per setting")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads in the main process")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    root = Path(args.dir) / f"n{args.n}_s{args.size}"
    t = time.perf_counter()
    write_synthetic(root, args.n, args.size, per_file=10000)
    write_s = time.perf_counter() - t
    size_gb = sum(p.stat().st_size for p in root.rglob("*.npy")) / 1e9

    opened = measure_open(root)  # before warming: opening must not depend on the page cache
    warm_s = warm_page_cache(root)
    runs = [measure_loader(root, args.batch_size, w, True, args.batches, norm)
            for norm in (False, True) for w in args.workers]

    print(f"\nKaggle-layout set: {opened['images']} x {args.size}x{args.size}, {size_gb:.2f} GB at {root} "
          f"(written/reused in {write_s:.1f} s); {os.cpu_count()} CPUs, torch threads {args.threads}")
    print(f"open: {opened['open_s'] * 1000:.1f} ms, +{opened['rss_added_by_open_mb']:.1f} MB resident for opening "
          f"(process total {opened['rss_mb']:.0f} MB, almost all of it `import torch`)")
    print(f"page cache warmed in {warm_s:.1f} s; load average (shared machine): {os.getloadavg()[0]:.1f}")
    print(f"\n{'output':>22} {'workers':>7} {'pin':>5} {'batch':>5} {'images/s':>10} {'ms/batch':>9}")
    for r in runs:
        out = "float L, ab (CPU)" if r["normalise"] else "uint8 [B,3,H,W]"
        print(f"{out:>22} {r['workers']:>7} {r['pin_memory']!s:>5} {r['batch_size']:>5} {r['images_per_s']:>10.0f} "
              f"{1000 * r['seconds'] * r['batch_size'] / r['images']:>9.2f}")
    print(json.dumps({"set": {"n": opened["images"], "size": args.size, "gb": round(size_gb, 2)},
                      "open": opened, "warm_s": warm_s, "loader": runs, "cpus": os.cpu_count(), "threads": args.threads,
                      "loadavg": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
