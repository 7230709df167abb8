"""The ``colorize`` command: colour photos, folders and globs at full resolution with a checkpoint.

    colorize photos/ old.jpg 'scans/*.png' --ckpt runs/.../best.ckpt --out colorized/ [--compare]

Each output keeps its input's name, format, size and alpha (alpha plays no part in the colours); folders are
searched recursively and mirrored under ``--out``. An animated GIF / PNG / WebP or multi-page TIFF has every
frame coloured and keeps its frame durations and loop count (another format with several frames, e.g. a
camera's MPO, gets its first frame coloured, and a warning says so). A symlink loop is reported as an
unreadable input and skipped; which files count and how they are decoded is
:mod:`colorization.io.image_files`'s rule, shared with ``eval.py data=folder`` and the folder dataset.
The work is :class:`colorization.inference.colorizer.Colorizer`'s; this module is the arguments, the output
plan and the progress.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from colorization import prefer_passive_omp_waits

if TYPE_CHECKING:
    import numpy as np
    import torch

    from colorization.inference.colorizer import Colorizer

# torch, the network and the image codecs are imported when photos are coloured, not to parse the arguments:
# `colorize --help` and a bad argument answer at once.

DEFAULT_OUT_DIR = "colorized"
COMPARE_SUFFIX = "_compare"


def side_by_side(lightness: torch.Tensor, rgb: np.ndarray, chunk_rows: int = 64) -> np.ndarray:
    """Gray rendering of ``L*`` ``[1,H,W]`` | colour ``rgb`` ``[H,W,3]`` -> ``[H,2W,3]`` uint8."""
    import numpy as np
    import torch

    from colorization.color import compose_srgb8

    gray = compose_srgb8(lightness.cpu(), torch.zeros(2, 1, 1), chunk_rows).numpy()
    return np.concatenate([gray, rgb], axis=1)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="colorize",
        description="Colorize photos at full resolution with a checkpoint from train.py. Each output keeps "
        "its input's file name, format and size; folders are searched recursively and mirrored under --out.",
        epilog="colorize --serve --ckpt A.ckpt [B.ckpt ...] | --sweep DIR [--port 7860] [--host ADDR]: a local web "
        "page to drop a photo on and see each checkpoint's colorization side by side (colorize --serve --help).",
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
    from colorization.io.image_files import resolve_path

    inputs = {resolve_path(p) for p, _ in pairs}
    taken: dict[Path, Path] = {}
    planned = []
    for src, rel in pairs:
        dst = out_dir / rel
        targets = [resolve_path(dst)]
        if compare:
            targets.append(resolve_path(_compare_path(dst)))
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


def _colorize_frames(
    colorizer: Colorizer, src: Path, dst: Path, args: argparse.Namespace, report: Callable[[str], None]
) -> int:
    """Colour every frame of an animated / multi-page ``src`` and write them to ``dst`` (and its comparison)
    with the same timing; returns the number of files written (0 or 1), reporting why when 0."""
    from colorization.io.image_files import ImageReadError

    try:
        _write_frames(colorizer, src, dst, args)
        return 1
    except ImageReadError as e:
        report(f"error: {e}; skipped")
    except (OSError, ValueError) as e:
        report(f"error: {src}: cannot write {dst} ({e.__class__.__name__}: {e}); skipped")
    return 0


def _write_frames(colorizer: Colorizer, src: Path, dst: Path, args: argparse.Namespace) -> None:
    from colorization.io.frames import read_frames
    from colorization.io.image_files import save_format, write_image

    frames = read_frames(src)
    fmt = save_format(frames.format, dst)
    rgbs = colorizer.colorize_decoded(frames.images)
    first = frames.images[0]
    options = frames.save_options(fmt)
    write_image(rgbs, dst, fmt, [f.alpha for f in frames.images], first.exif, args.quality, **options)
    if args.compare:
        pairs = [side_by_side(f.lightness, rgb, colorizer.chunk_rows)
                 for f, rgb in zip(frames.images, rgbs, strict=True)]
        write_image(pairs, _compare_path(dst), fmt, None, first.exif, args.quality, **options)


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("colorizing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not enabled, transient=False,
    )


def run(args: argparse.Namespace, progress_min_files: int = 4) -> int:
    """The ``colorize`` command; returns the exit status (0 all written, 1 some failed, 2 nothing to do)."""
    from colorization.inference.colorizer import load_colorizer
    from colorization.io.frames import ANIMATED_FORMATS
    from colorization.io.image_files import (
        DecodedImage,
        ImageReadError,
        find_inputs,
        read_image,
        save_format,
        write_image,
    )

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
                    image = read_image(src)
                except ImageReadError as e:
                    report(f"error: {e}; skipped")
                    bar.advance(task)
                    continue
                if image.frames > 1 and image.format in ANIMATED_FORMATS:
                    written += _colorize_frames(colorizer, src, dst, args, report)
                    bar.advance(task)
                    continue
                if image.frames > 1:
                    print(f"warning: {src}: only the first of its {image.frames} frames was colorized "
                          f"({image.format} files are written with one)", file=sys.stderr, flush=True)
                decoded.append((src, dst, image))
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
    """Console entry point ``colorize`` (also ``python -m colorization.cli``); ``colorize --serve ...`` starts the
    local web page instead (:mod:`colorization.serve.app`, its own options)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--serve" in argv:
        prefer_passive_omp_waits()
        from colorization.serve.app import main as serve_main

        return serve_main([a for a in argv if a != "--serve"])
    prefer_passive_omp_waits()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # inference never needs the hub; fail fast if anything asks
    args = _parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        # Every file is written whole or not at all; what was written stays.
        print(f"colorize: interrupted; the files written so far are in {args.out}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
