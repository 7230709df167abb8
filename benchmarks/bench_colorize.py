"""How long ``colorize`` takes on a 12-megapixel JPEG, stage by stage.

    HF_HUB_OFFLINE=1 python benchmarks/bench_colorize.py [--model unet --encoder resnet34 --size 256]

Makes a 4000x3000 JPEG from a real photo (upscaled), a checkpoint of the model (random weights: the speed
does not depend on them) and times, in one warm process, the stages the command runs for each photo:
decode (Pillow), L* (full resolution, float), network (resize to ``size`` + forward + decode of the loss),
upsample + LAB->RGB (full resolution, luminance-preserving gamut mapping), encode (JPEG, atomic write). The
median of ``--repeats`` runs is printed as a Markdown table, with the one-off costs (imports, checkpoint).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import lightning as L  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from colorization.cli import main  # noqa: E402
from colorization.data.photos import load_photo  # noqa: E402
from colorization.inference.colorizer import load_colorizer  # noqa: E402
from colorization.io.image_files import DecodedImage, decode_pil, save_format, write_image  # noqa: E402
from colorization.training.module import ColorizationModule  # noqa: E402

T_IMPORTS = time.perf_counter() - T_START


def make_checkpoint(path: Path, model: str, encoder: str, loss: str) -> Path:
    spec = {"name": model} if model == "vanilla" else {"name": model, "encoder": encoder, "pretrained": False}
    module = ColorizationModule(model=spec, loss={"name": loss},
                                optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3})
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", max_epochs=0)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def make_photo(path: Path, width: int, height: int, photo: str, quality: int) -> Path:
    Image.fromarray(load_photo(photo)).resize((width, height), Image.BICUBIC).save(path, quality=quality)
    return path


def open_image(path: Path) -> Image.Image:
    img = Image.open(path)
    img.load()
    return img


def decode_lightness(img: Image.Image) -> DecodedImage:
    """The decoder's work on an opened photo: samples, then the full-resolution L* colorize colours."""
    image = decode_pil(img)
    image.lightness  # noqa: B018 - computed (and cached) here, so the stage is timed
    return image


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main_bench(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="unet")
    p.add_argument("--encoder", default="resnet34")
    p.add_argument("--loss", default="l1")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--photo", default="skimage_astronaut")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality of input and output")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--chunk-rows", type=int, default=128)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = make_checkpoint(tmp / "bench.ckpt", args.model, args.encoder, args.loss)
        src = make_photo(tmp / "photo.jpg", args.width, args.height, args.photo, args.quality)
        colorizer, t_load = timed(load_colorizer, ckpt, "cpu", args.size, 1, args.chunk_rows)
        names = ("decode (Pillow)", "L* (full resolution)", "network", "upsample + LAB->RGB", "encode")
        stages: dict[str, list[float]] = {k: [] for k in names}
        for i in range(args.repeats + 1):  # the first run warms caches and lookup tables; not counted
            pil, t_decode = timed(open_image, src)
            image, t_light = timed(decode_lightness, pil)
            (ab,), t_net = timed(colorizer.predict_ab, [image.lightness])
            rgb, t_compose = timed(colorizer.compose, image.lightness, ab)
            dst = tmp / "out" / src.name
            fmt = save_format(image.format, dst)
            _, t_encode = timed(write_image, rgb, dst, fmt, image.alpha, image.exif, args.quality)
            if i:
                for k, v in zip(stages, (t_decode, t_light, t_net, t_compose, t_encode), strict=True):
                    stages[k].append(v)
        assert Image.open(dst).size == (args.width, args.height)
        cli_times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            code = main([str(src), "--ckpt", str(ckpt), "--out", str(tmp / "cli"), "--size", str(args.size)])
            cli_times.append(time.perf_counter() - t)
            assert code == 0

    med = {k: statistics.median(v) for k, v in stages.items()}
    total = sum(med.values())
    print(f"colorize {args.width}x{args.height} JPEG, {args.model}"
          f"{'-' + args.encoder if args.model != 'vanilla' else ''} at --size {args.size}, "
          f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; median of {args.repeats}\n")
    print("| stage | seconds |\n|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.3f} |")
    print(f"| **per photo (sum)** | **{total:.3f}** |")
    print(f"| `colorize` command in-process (load checkpoint + photo) | {statistics.median(cli_times):.3f} |")
    print(f"| one-off: imports | {T_IMPORTS:.2f} |")
    print(f"| one-off: load checkpoint | {t_load:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main_bench())
