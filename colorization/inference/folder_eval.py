"""Whole-photo evaluation of a checkpoint on a folder of photos, exactly as ``colorize`` colours them.

``eval.py data=folder data.root=DIR`` (``whole_photos=true``, the default) lands here. For every colour photo
under DIR -- the files ``colorize DIR`` would pick, decoded by the same rules
(:mod:`colorization.io.image_files`) -- the network sees the photo's full-precision lightness ``L*``
resized to ``size``, exactly as ``colorize`` feeds it; its ``a*b*`` is upsampled bilinearly to the photo's
size. The metrics compare that with the photo at full resolution, both through the 8-bit LAB encoding every
dataset uses (so whole-photo numbers match crop-based ones in kind), per photo, averaged over photos. Alpha is
not colour: the photo's colour samples are evaluated as stored, as ``colorize`` colours them.

Big photos cost bounded time and memory: the metrics (and the gray baseline beside them, sharing the truth's
rendering) are computed ``strip_rows`` rows at a time by :mod:`colorization.metrics.strips`, exactly -- the same
values as on the whole image, up to float rounding -- so a 24-MP photo is evaluated in seconds and under 2 GB
instead of minutes and 19 GB (BENCHMARKS.md has the measurement).

Grayscale photos (no colour truth), unreadable files and photos smaller than one SSIM window are skipped and
counted. With ``save_images`` each evaluated photo is written as ``colorize`` would colour it (the same pixels),
as PNG under ``<output_dir>/colorized``, mirroring the folder tree.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from colorization.color import ab_to_normalized, lab8_to_normalized, rgb_to_lab8, upsample_ab
from colorization.color.chunks import for_each_chunk
from colorization.data.folder import scan_images
from colorization.data.kaggle import DatasetError
from colorization.inference.colorizer import Colorizer, load_colorizer
from colorization.io.image_files import DecodedImage, ImageReadError, read_image
from colorization.io.json_files import write_json
from colorization.metrics import ColorizationMetrics, gaussian_window

log = logging.getLogger(__name__)

__all__ = ["evaluate_folder", "photo_truth", "predict_photo_ab"]


def photo_truth(
    image: DecodedImage, device: torch.device, chunk_rows: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """A decoded photo -> its truth ``(L [1,1,H,W] in [-1,1], ab [1,2,H,W] normalised)`` on ``device``, through
    the 8-bit LAB encoding of every dataset (alpha left out). Encoded ``chunk_rows`` rows at a time: the
    integer LAB path's temporaries for a whole 24-MP photo took 2 GB."""
    rgb = torch.from_numpy(image.rgb8()).permute(2, 0, 1)
    lab8 = torch.empty_like(rgb)

    def encode(first: int) -> None:
        lab8[:, first : first + chunk_rows] = rgb_to_lab8(rgb[:, first : first + chunk_rows])

    for_each_chunk(encode, rgb.shape[1], chunk_rows, workers=None)
    return lab8_to_normalized(lab8[None].to(device))


def predict_photo_ab(colorizer: Colorizer, image: DecodedImage) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ab [1,2,H,W] normalised at the photo's size, a*b* [2,size,size] as the network predicted it)``; the
    network input is ``colorize``'s: the photo's full-precision ``L*`` resized to ``colorizer.size``."""
    ab_small = colorizer.predict_ab([image.lightness])[0]
    height, width = image.size
    return ab_to_normalized(upsample_ab(ab_small, height, width))[None], ab_small


def evaluate_folder(
    ckpt_path: str | os.PathLike,
    root: str | os.PathLike,
    output_dir: str | os.PathLike,
    size: int,
    device: str | torch.device = "auto",
    gray_tolerance: int = 2,
    save_images: bool = False,
    metrics: Mapping[str, Any] | None = None,
    strip_rows: int = 64,
) -> dict[str, Any]:
    """Evaluate every colour photo under ``root`` whole (see the module docstring); writes
    ``<output_dir>/metrics.json`` and returns ``{"metrics": {"test/psnr": ...}, "images": n, "skipped_*": ...}``.

    Args:
        size: the network's input side (``colorize --size``).
        gray_tolerance: channels this close count as gray (as the folder dataset's scan).
        metrics: :class:`~colorization.metrics.ColorizationMetrics` settings; None: its defaults.
        strip_rows: rows scored (and encoded) at a time, unless ``metrics`` sets ``strip_rows``; memory grows
            with it, the values do not change.
    """
    root, output_dir = Path(root), Path(output_dir)
    scan = scan_images(root, gray_tolerance=gray_tolerance)
    colorizer = load_colorizer(ckpt_path, device=device, size=int(size))
    meter = ColorizationMetrics(**{"strip_rows": strip_rows, **dict(metrics or {})}).to(colorizer.device)
    save_dir = output_dir / "colorized" if save_images else None
    unreadable = [str(p) for p in scan.unreadable]
    too_small: list[str] = []
    min_side = len(gaussian_window(meter.metric_kwargs["ssim_sigma"]))  # SSIM needs at least one full window
    evaluated = 0
    for path in scan.files:
        try:
            image = read_image(path)
        except ImageReadError as err:
            log.warning("skipping %s", err)
            unreadable.append(str(path))
            continue
        if min(image.size) < min_side:
            too_small.append(str(path))
            continue
        L_, ab_true = photo_truth(image, colorizer.device, meter.strip_rows or strip_rows)
        ab_pred, ab_small = predict_photo_ab(colorizer, image)
        meter.update(L_, ab_pred, ab_true)
        del L_, ab_true, ab_pred  # before the next photo's: one photo's full-size tensors at a time
        evaluated += 1
        if save_dir is not None:
            out = (save_dir / path.relative_to(root)).with_suffix(".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(colorizer.compose(image.lightness, ab_small)).save(out)
    if evaluated == 0:
        raise DatasetError(f"data.root={root}: no colour photo in it could be evaluated "
                           f"({len(scan.grayscale)} grayscale, {len(unreadable)} unreadable, "
                           f"{len(too_small)} smaller than {min_side} px)")
    values = {f"test/{k}": float(v) for k, v in meter.compute().items()}
    counts = {"images": evaluated, "skipped_grayscale": len(scan.grayscale), "skipped_unreadable": len(unreadable),
              "skipped_too_small": len(too_small)}
    write_json(output_dir / "metrics.json", {**values, **counts, "size": int(size)})
    log.info("%d photo(s) evaluated whole at network size %d; skipped %d grayscale, %d unreadable, %d too small",
             evaluated, size, len(scan.grayscale), len(unreadable), len(too_small))
    log.info("metrics: %s -> %s", values, output_dir / "metrics.json")
    result: dict[str, Any] = {"metrics": values, "ckpt_path": str(ckpt_path), **counts, "unreadable_files": unreadable}
    if save_dir is not None:
        result["colorized"] = evaluated
    return result
