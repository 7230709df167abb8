"""The ``colorize`` command: colour photos, folders and globs at full resolution with a checkpoint.

    colorize photos/ old.jpg 'scans/*.png' --ckpt runs/.../best.ckpt --out colorized/ [--compare]

Each output keeps its input's name, format, size and alpha (alpha plays no part in the colours); folders are
searched recursively and mirrored under ``--out``; which files count and how they are decoded is
:mod:`colorization.inference.image_files`'s rule, shared with ``eval.py data=folder`` and the folder dataset.
The work is :class:`colorization.inference.colorizer.Colorizer`'s; this module is the arguments, the output
plan and the progress.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from colorization.color import compose_srgb8
from colorization.inference.colorizer import load_colorizer
from colorization.inference.image_files import (
    DecodedImage,
    ImageReadError,
    find_inputs,
    read_image,
    save_format,
    write_image,
)

DEFAULT_OUT_DIR = "colorized"
COMPARE_SUFFIX = "_compare"


def side_by_side(lightness: torch.Tensor, rgb: np.ndarray, chunk_rows: int = 64) -> np.ndarray:
    """Gray rendering of ``L*`` ``[1,H,W]`` | colour ``rgb`` ``[H,W,3]`` -> ``[H,2W,3]`` uint8."""
    gray = compose_srgb8(lightness.cpu(), torch.zeros(2, 1, 1), chunk_rows).numpy()
    return np.concatenate([gray, rgb], axis=1)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="colorize",
        description="Colorize photos at full resolution with a checkpoint from train.py. Each output keeps "
        "its input's file name, format and size; folders are searched recursively and mirrored under --out.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or globs")
    p.add_argument("--ckpt", required=True, help="checkpoint written by train.py (model and loss inside)")
    p.add_argument("--out", default=DEFAULT_OUT_DIR,
                   help=f"output folder (default: ./{DEFAULT_OUT_DIR}); inputs are never overwritten")
    p.add_argument("--size", type=int, default=256, help="network input size; ab is upsampled (default 256)")
    p.add_argument("--compare", action="store_true",
                   help=f"also write NAME{COMPARE_SUFFIX}.EXT: gray | colorized side by side")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--batch", type=int, default=8, help="photos per network call (default 8)")
    p.add_argument("--quality", type=int, default=95, help="JPEG / WebP quality of the outputs (default 95)")
    p.add_argument("--chunk-rows", type=int, default=64, help="rows per LAB->RGB step on CPU (default 64)")
    return p.parse_args(argv)


def _plan_outputs(
    pairs: list[tuple[Path, Path]], out_dir: Path, compare: bool, report: Callable[[str], None]
) -> list[tuple[Path, Path]]:
    """``(input, output)`` pairs; refuses (reports and drops) outputs that would overwrite an input or another
    output."""
    inputs = {p.resolve() for p, _ in pairs}
    taken: dict[Path, Path] = {}
    planned = []
    for src, rel in pairs:
        dst = out_dir / rel
        targets = [dst.resolve()]
        if compare:
            targets.append(_compare_path(dst).resolve())
        if any(t in inputs for t in targets):
            report(f"error: {src}: refusing to write {dst}, which is an input; choose another --out")
            continue
        clash = next((taken[t] for t in targets if t in taken), None)
        if clash is not None:
            report(f"error: {src}: its output {dst} is already the output of {clash}; colorize it separately")
            continue
        taken.update({t: src for t in targets})
        planned.append((src, dst))
    return planned


def _compare_path(dst: Path) -> Path:
    return dst.with_name(f"{dst.stem}{COMPARE_SUFFIX}{dst.suffix}")


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("colorizing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not enabled, transient=False,
    )


def run(args: argparse.Namespace, progress_min_files: int = 4) -> int:
    """The ``colorize`` command; returns the exit status (0 all written, 1 some failed, 2 nothing to do)."""
    out_dir = Path(args.out)
    errors: list[str] = []

    def report(msg: str) -> None:
        errors.append(msg)
        print(msg, file=sys.stderr, flush=True)

    pairs, unmatched = find_inputs(args.inputs, exclude=out_dir)
    for pattern in unmatched:
        report(f"error: {pattern}: no such file, or no image files in it")
    planned = _plan_outputs(pairs, out_dir, args.compare, report)
    if not planned:
        print("error: nothing to colorize", file=sys.stderr)
        return 2
    try:
        colorizer = load_colorizer(args.ckpt, args.device, args.size, args.batch, args.chunk_rows)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: cannot load the checkpoint: {e}", file=sys.stderr)
        return 2

    written = 0
    with _progress(len(planned) >= progress_min_files) as bar:
        task = bar.add_task("colorize", total=len(planned))
        for start in range(0, len(planned), colorizer.batch_size):
            group = planned[start : start + colorizer.batch_size]
            decoded: list[tuple[Path, Path, DecodedImage]] = []
            for src, dst in group:
                try:
                    decoded.append((src, dst, read_image(src)))
                except ImageReadError as e:
                    report(f"error: {e}; skipped")
                    bar.advance(task)
            abs_ = colorizer.predict_ab([d.lightness for _, _, d in decoded]) if decoded else []
            for (src, dst, image), ab in zip(decoded, abs_, strict=True):
                try:
                    rgb = colorizer.compose(image.lightness, ab)
                    fmt = save_format(image.format, dst)
                    write_image(rgb, dst, fmt, image.alpha, image.exif, args.quality)
                    if args.compare:
                        pair = side_by_side(image.lightness, rgb, colorizer.chunk_rows)
                        write_image(pair, _compare_path(dst), fmt, None, image.exif, args.quality)
                    written += 1
                except (OSError, ValueError) as e:
                    report(f"error: {src}: cannot write {dst} ({e.__class__.__name__}: {e}); skipped")
                bar.advance(task)
    n_failed = len(errors)
    summary = f"colorized {written} file(s) into {out_dir}"
    print(summary + (f"; {n_failed} problem(s) above" if n_failed else ""), file=sys.stderr)
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``colorize`` (also ``python -m colorization.cli``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # inference never needs the hub; fail fast if anything asks
    return run(_parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
