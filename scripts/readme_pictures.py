"""The README's picture of `make train`: its held-out test photos, colorized at full size by the colorize library.

    python scripts/readme_pictures.py RUN_DIR docs/colorize_before_after.jpg

RUN_DIR is the run dir `make train` printed. Each row: the photo's gray (its own lightness), the colorization from
the run's best checkpoint (the network sees the lightness at --size, its colours are upsampled onto the full-size
lightness), the original. The photos are the run's test split (read from the sample set's manifest).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

from colorization import load_colorizer
from colorization.cli import side_by_side
from colorization.color import lightness_from_srgb8
from colorization.data.photos import load_photo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--size", type=int, default=256, help="network input side (colorize's --size)")
    p.add_argument("--height", type=int, default=300, help="height of each row in the picture")
    args = p.parse_args()
    status = json.loads((args.run_dir / "job_status.json").read_text())
    data_root = Path(OmegaConf.load(args.run_dir / ".hydra" / "config.yaml").data.root)
    manifests = sorted(data_root.glob("*/manifest.json"), key=lambda m: m.stat().st_mtime)
    photos = json.loads(manifests[-1].read_text())["photos"]["test"]
    colorizer = load_colorizer(status["best_ckpt"], device="cpu", size=args.size)
    rows = []
    for name in photos:
        rgb = load_photo(name)
        # gray | colorized exactly as `colorize --compare` writes them, then the original.
        pair = side_by_side(lightness_from_srgb8(rgb), colorizer(rgb))
        width = rgb.shape[1]
        row = [im.resize((round(im.width * args.height / im.height), args.height), Image.Resampling.LANCZOS)
               for im in (Image.fromarray(pair[:, :width]), Image.fromarray(pair[:, width:]), Image.fromarray(rgb))]
        rows.append(np.concatenate([np.asarray(im) for im in row], axis=1))
    width = max(r.shape[1] for r in rows)
    canvas = np.full((len(rows) * (args.height + 4) - 4, width, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        canvas[i * (args.height + 4) : i * (args.height + 4) + args.height, : r.shape[1]] = r
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(args.out, quality=90)
    print(f"{args.out}: test photos {', '.join(photos)}; checkpoint {status['best_ckpt']}")


if __name__ == "__main__":
    main()
