"""Turn any folder of photos into the Kaggle layout, so large custom sets train at memmap speed.

    python -m colorization.data.prepare --images DIR --out DIR --size 224

Images are decoded one at a time and streamed into ``np.lib.format.open_memmap`` files: the set never sits in
RAM. Grayscale and unreadable files are skipped and counted, as in :class:`~colorization.data.ImageFolderLab`.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from colorization.color import rgb_to_lab8
from colorization.data.folder import load_rgb, resize_crop, scan_images
from colorization.data.kaggle import GRAY_FILE, KaggleLabDataset

log = logging.getLogger(__name__)


def _convert(args: tuple[Path, int]) -> np.ndarray | str:
    """One file -> uint8 LAB ``[3, size, size]``, or the error text when it cannot be decoded."""
    path, size = args
    try:
        rgb = resize_crop(load_rgb(path), size)
    except Exception as err:  # reported and skipped by the caller
        return f"{type(err).__name__}: {err}"
    return rgb_to_lab8(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)).numpy()


def _converted(files: Sequence[Path], size: int, workers: int) -> Iterator[np.ndarray | str]:
    jobs = [(f, size) for f in files]
    if workers <= 0:
        yield from map(_convert, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_convert, jobs, chunksize=16)


def _open_outputs(out: Path, n: int, size: int, per_file: int) -> tuple[np.ndarray, list[np.ndarray]]:
    (out / "l").mkdir(parents=True, exist_ok=True)
    (out / "ab" / "ab").mkdir(parents=True, exist_ok=True)
    gray = np.lib.format.open_memmap(out / GRAY_FILE, mode="w+", dtype=np.uint8, shape=(n, size, size))
    counts = [min(per_file, n - s) for s in range(0, n, per_file)] or [0]
    abs_ = [np.lib.format.open_memmap(out / "ab" / "ab" / f"ab{k}.npy", mode="w+", dtype=np.uint8,
                                      shape=(c, size, size, 2)) for k, c in enumerate(counts, start=1)]
    return gray, abs_


def prepare(
    images: str | Path,
    out: str | Path,
    size: int = 224,
    per_file: int = 10000,
    workers: int = 0,
    gray_tolerance: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, int]:
    """Convert ``images`` (any tree of photos) into the Kaggle layout at ``out``; returns counts.

    ``per_file`` images go into each ``ab/ab/abK.npy`` (10000 like the download). Returns ``{"written",
    "grayscale", "unreadable"}``.
    """
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise FileNotFoundError(f"image folder {images} does not exist")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"output folder {out} is not empty; pass --overwrite to replace it")
        shutil.rmtree(out)
    scan = scan_images(images, gray_tolerance=gray_tolerance)
    n = len(scan.files)
    if n == 0:
        raise FileNotFoundError(f"no usable colour images under {images} "
                                f"({len(scan.grayscale)} grayscale, {len(scan.unreadable)} unreadable)")
    gray, abs_ = _open_outputs(out, n, size, per_file)
    written, unreadable = 0, len(scan.unreadable)
    columns = (TextColumn("[bold]preparing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("images", total=n)
        for path, lab in zip(scan.files, _converted(scan.files, size, workers), strict=True):
            bar.advance(task)
            if isinstance(lab, str):  # passed the scan but failed to decode: skip it
                log.warning("skipping unreadable image %s: %s", path, lab)
                unreadable += 1
                continue
            k, r = divmod(written, per_file)
            gray[written] = lab[0]
            abs_[k][r] = lab[1:].transpose(1, 2, 0)
            written += 1
    for arr in (gray, *abs_):
        arr.flush()
    del gray, abs_
    if written == 0:
        shutil.rmtree(out)
        raise FileNotFoundError(f"none of the {n} images under {images} could be decoded")
    if written < n:  # some files failed after the scan: rewrite the arrays at their true length
        _shrink(out, written, size, per_file)
    KaggleLabDataset(out)  # re-open: the result must pass the reader's own checks
    return {"written": written, "grayscale": len(scan.grayscale), "unreadable": unreadable}


def _shrink(out: Path, n: int, size: int, per_file: int) -> None:
    old = out.with_name(out.name + ".partial")
    out.rename(old)
    src = KaggleLabDataset(old)
    gray, abs_ = _open_outputs(out, n, size, per_file)
    for start in range(0, n, 256):
        batch = src.get_batch(np.arange(start, min(n, start + 256))).numpy()
        gray[start : start + len(batch)] = batch[:, 0]
        for j, img in enumerate(batch, start=start):
            k, r = divmod(j, per_file)
            abs_[k][r] = img[1:].transpose(1, 2, 0)
    for arr in (gray, *abs_):
        arr.flush()
    del src, gray, abs_
    shutil.rmtree(old)


def main(argv: Sequence[str] | None = None, prog: str = "colorization prepare") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--images", required=True, help="folder of photos (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder for the Kaggle layout")
    parser.add_argument("--size", type=int, default=224, help="side of the square output images (default 224)")
    parser.add_argument("--per-file", type=int, default=10000, help="images per ab file (default 10000)")
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (default 0: in-process)")
    parser.add_argument("--gray-tolerance", type=int, default=2, help="channels this close count as gray")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.size <= 0 or args.per_file <= 0:
        print("error: --size and --per-file must be positive", file=sys.stderr)
        return 2
    try:
        counts = prepare(args.images, args.out, size=args.size, per_file=args.per_file, workers=args.workers,
                         gray_tolerance=args.gray_tolerance, overwrite=args.overwrite,
                         progress=not args.no_progress)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {counts['written']} images of {args.size}x{args.size} to {args.out} "
          f"(skipped {counts['grayscale']} grayscale, {counts['unreadable']} unreadable)")
    return 0

