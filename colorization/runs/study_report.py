"""A finished sweep as a report: the summary table and a picture of test photos (gray | each job | truth).

    python -m colorization.runs.study_report multirun/<date>/<time>-<pid> --grid docs/seed_study.png   (table on stdout)

The table comes from the sweep's job status files (:mod:`colorization.runs.sweep_summary`); the picture colorizes the
same held-out test images with every job's best checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image, ImageDraw

from colorization.color import lab8_to_normalized, render_normalized
from colorization.runs.sweep_summary import collect_rows

COLUMNS = [("test/psnr", "PSNR ↑"), ("test/ssim", "SSIM ↑"), ("test/cf", "CF"), ("test/dcf", "dCF ↓"),
           ("test/auc", "AuC ↑")]
DELTAS = [("Δpsnr_vs_vanilla", "ΔPSNR"), ("Δssim_vs_vanilla", "ΔSSIM"), ("Δdcf_vs_vanilla", "ΔdCF"),
          ("Δauc_vs_vanilla", "ΔAuC")]


def _f(v: Any, signed: bool = False) -> str:
    if v is None or v == "":
        return "–"
    return f"{float(v):+.3f}" if signed else f"{float(v):.3f}"


def results_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per job, the gray baseline first (per loss the data are the same, so one floor)."""
    head = ["model", "loss", *(n for _, n in COLUMNS), *(n for _, n in DELTAS), "train time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ok = [r for r in rows if r["status"] == "ok"]
    if ok:
        g = ok[0]
        gray = [_f(g.get("test/psnr_gray")), _f(g.get("test/ssim_gray")), "0.000", _f(g.get("test/dcf_gray")),
                _f(g.get("test/auc_gray"))]
        lines.append("| *gray baseline (a = b = 0)* | – | " + " | ".join(gray) + " |" + " – |" * (len(DELTAS) + 1))
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {r['loss']} | failed: {r.get('error', '')} |" + " |" * (len(head) - 3))
            continue
        cells = [r["model"], r["loss"], *(_f(r.get(k)) for k, _ in COLUMNS),
                 *(_f(r.get(k), signed=True) for k, _ in DELTAS), f"{float(r['wall_time_s']):.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _test_images(job_dir: Path, n: int) -> torch.Tensor:
    """``n`` uint8 LAB test images ``[n,3,H,W]``, spread over the test split the job was tested on."""
    import hydra

    import colorization.config  # noqa: F401 - the configs use its resolvers

    cfg = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("test")
    ds = datamodule.data_test
    idx = np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int))
    return torch.stack([torch.as_tensor(ds[int(i)]) for i in idx])


@torch.no_grad()
def comparison_grid(rows: list[dict[str, Any]], sweep_dir: Path, n_images: int = 6, scale: int = 2) -> Image.Image:
    """Rows of test images; columns gray | one per ok job (its best checkpoint) | truth, with a header."""
    from colorization.inference.checkpoint import load_trained

    ok = [r for r in rows if r["status"] == "ok" and r.get("best_ckpt")]
    lab8 = _test_images(sweep_dir / ok[0]["job"], n_images)
    L_, ab_true = lab8_to_normalized(lab8)
    columns = [("gray", render_normalized(L_, torch.zeros_like(ab_true)))]
    for r in ok:
        module = load_trained(r["best_ckpt"])
        columns.append((f"{r['model']}\n{r['loss']}", render_normalized(L_, module.colorize_normalized(L_))))
    columns.append(("truth", render_normalized(L_, ab_true)))

    h, w = lab8.shape[-2] * scale, lab8.shape[-1] * scale
    gap, header = 2, 30
    canvas = Image.new("RGB", (len(columns) * (w + gap) - gap, header + len(lab8) * (h + gap) - gap), "white")
    draw = ImageDraw.Draw(canvas)
    for c, (label, rgb) in enumerate(columns):
        x = c * (w + gap)
        draw.multiline_text((x + 2, 1), label, fill="black", spacing=1)
        pics = rgb.permute(0, 2, 3, 1).numpy()
        for i, pic in enumerate(pics):
            tile = Image.fromarray(pic).resize((w, h), Image.NEAREST)
            canvas.paste(tile, (x, header + i * (h + gap)))
    return canvas


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--grid", type=Path, help="write the picture here (PNG)")
    p.add_argument("--images", type=int, default=6, help="test images in the picture")
    p.add_argument("--baseline", default="vanilla")
    args = p.parse_args(argv)
    rows = collect_rows(args.sweep_dir, args.baseline)
    print(results_table(rows))
    if args.grid:
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        comparison_grid(rows, args.sweep_dir, args.images).save(args.grid)
        print(f"\ngrid: {args.grid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
