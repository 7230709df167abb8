"""A finished sweep as a report: the table for RESULTS.md, the plots, a picture of test photos, and a W&B run.

    python -m colorization.reports.study_report multirun/<date>/<time>-<pid> [--grid docs/seed_study.png]
        [--plots-dir DIR] [--wandb]

* the table (markdown, on stdout): one row per (model, loss) group of the sweep summary
  (:func:`colorization.reports.sweep_summary.summarize`): mean [95% CI] over seeds x test images, the paired
  difference against the baseline with its interval and the verdicts, under a gray-baseline row;
* the plots (:mod:`colorization.reports.study_plots`): ``study_psnr|ssim|auc.png`` and ``study_val_psnr.png`` in the
  sweep dir (or ``--plots-dir``);
* ``--grid``: held-out test photos, gray | one column per group (its first finished seed's best checkpoint) | truth;
* ``--wandb``: the plots, the grid and the table in one W&B run (job type ``study``) of the sweep's group.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image, ImageDraw

from colorization.color import lab8_to_normalized, render_normalized
from colorization.io.atomic import atomic_write
from colorization.reports.labels import encoder_start, group_label, several_losses
from colorization.reports.metric_names import METRICS, VERDICT_METRICS
from colorization.reports.study_plots import write_study_plots
from colorization.reports.sweep_groups import VERDICT_COLUMNS
from colorization.reports.sweep_table import best_checkpoint, read_status
from colorization.reports.text_format import markdown_table, with_ci


def _cell(row: dict[str, Any], name: str, signed: bool = False) -> str:
    """``mean [low, high]``, the mean alone without an interval, ``–`` without a value."""
    return with_ci(row, name, signed=signed, missing="–")


def table_head(baseline_model: str = "vanilla") -> list[str]:
    return ["model", "loss", "encoder start", "n_seeds", "n_images", *(METRICS[m].header for m in VERDICT_METRICS),
            METRICS["dcf"].header, f"ΔPSNR vs {baseline_model}",
            *(f"verdict ({METRICS[m].label})" for m in VERDICT_METRICS)]


def table_cells(group: dict[str, Any], baseline_model: str = "vanilla") -> list[str]:
    """One group row of ``summary.csv`` (a dict) as the table's cells (strings, ``table_head``'s order)."""
    # No seed finished ("0" from summary.csv, 0 from summarize): say how many jobs failed or diverged, not empty
    # numbers.
    if not int(group.get("n_seeds") or 0):
        diverged = int(group.get("n_diverged") or 0)
        failed = f"no finished seed ({group.get('n_failed', '?')} failed" + (f", {diverged} diverged)" if diverged
                                                                            else ")")
        return [str(group["model"]), str(group["loss"]), encoder_start(group.get("encoder_weights")), "0", failed,
                *["–"] * (len(table_head()) - 5)]
    verdicts = [str(group.get(VERDICT_COLUMNS[m]) or "–") for m in VERDICT_METRICS]
    return [str(group["model"]), str(group["loss"]), encoder_start(group.get("encoder_weights")),
            str(group["n_seeds"]), str(group.get("n_images") or "–"), *(_cell(group, m) for m in VERDICT_METRICS),
            _cell(group, "dcf"), _cell(group, f"Δpsnr_vs_{baseline_model}", signed=True), *verdicts]


def gray_cells(groups: list[dict[str, Any]]) -> list[str] | None:
    """The gray prediction (a = b = 0) as a table row, from the first group that has its floor (every group is
    tested on the same images); ``None`` when none has."""
    g = next((g for g in groups if g.get("psnr_gray") not in (None, "")), None)
    if g is None:
        return None
    floor = [_cell(g, f"{m}_gray") for m in VERDICT_METRICS]
    return ["*gray baseline (a = b = 0)*", "–", "–", "–", str(g.get("n_images") or "–"), *floor,
            _cell(g, "dcf_gray"), "–", "–", "–", "–"]


def results_table(groups: list[dict[str, Any]], baseline_model: str = "vanilla") -> str:
    """Markdown: the head, the gray baseline row, then one line per group (summary order)."""
    rows = ([gray] if (gray := gray_cells(groups)) else []) + [table_cells(g, baseline_model) for g in groups]
    return "\n".join(markdown_table(table_head(baseline_model), rows))


def caption(baseline_model: str = "vanilla", confidence: float = 0.95) -> str:
    return (f"mean [{confidence:.0%} CI] over seeds x test images; dCF: colourfulness gap to the truth (mean over "
            f"seeds); ΔPSNR: paired difference against {baseline_model} with the same loss (same seeds, same "
            "images); verdict: better / worse when the interval of the difference excludes 0")


def _test_images(job_dir: Path, n: int) -> torch.Tensor:
    """``n`` uint8 LAB test images ``[n,3,H,W]`` (values 0..255), spread over the test split the job tested on."""
    import hydra

    import colorization.config  # noqa: F401 - the configs use its resolvers

    cfg = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("test")
    ds = datamodule.data_test
    idx = np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int))
    return torch.stack([torch.as_tensor(ds[int(i)]) for i in idx])


def grid_columns(sweep_dir: Path, groups: list[dict[str, Any]], jobs: list[dict[str, Any]],
                 ) -> list[tuple[dict[str, Any], Path, str]]:
    """Per group with a finished job that has a checkpoint: ``(group, checkpoint, job name)`` of its first such
    job (job-number order, which is the sweep's seed order; groups in summary order)."""
    by_name = {r["job"]: r for r in jobs}
    out = []
    for g in groups:
        members = [by_name[j] for j in str(g.get("jobs") or "").split() if by_name.get(j, {}).get("status") == "ok"]
        found = next(((r, c) for r in members
                      if (c := best_checkpoint(sweep_dir / r["job"], read_status(sweep_dir / r["job"]))) is not None),
                     None)
        if found:
            out.append((g, found[1], found[0]["job"]))
    return out


@torch.no_grad()
def comparison_grid(sweep_dir: Path, groups: list[dict[str, Any]], jobs: list[dict[str, Any]], n_images: int = 6,
                    scale: int = 2) -> Image.Image:
    """Rows of test images; columns gray | one per group (labelled model / encoder start) | truth.

    Every column colorizes the same images: the test split of the first column's job (a seed sweep shares its
    data seed, so every job tested on them). Raises ``ValueError`` when no group has a checkpoint."""
    from colorization.inference.checkpoint import load_trained

    columns_in = grid_columns(sweep_dir, groups, jobs)
    if not columns_in:
        raise ValueError(f"{sweep_dir}: no finished job with a best checkpoint, so no picture")
    lab8 = _test_images(sweep_dir / columns_in[0][2], n_images)
    L_, ab_true = lab8_to_normalized(lab8)
    columns = [("gray", render_normalized(L_, torch.zeros_like(ab_true)))]
    h, w = lab8.shape[-2] * scale, lab8.shape[-1] * scale
    sample = "encoder_decoder_0"  # how wide the default font sets a typical label, per character
    chars = max(4, int((w - 4) * len(sample) / ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(sample)))
    with_loss = several_losses(groups)
    for g, ckpt, _ in columns_in:
        module = load_trained(ckpt)
        columns.append((group_label(g, with_loss, width=chars), render_normalized(L_, module.colorize_normalized(L_))))
    columns.append(("truth", render_normalized(L_, ab_true)))

    gap, line = 2, 12
    header = 4 + line * max(label.count("\n") + 1 for label, _ in columns)
    canvas = Image.new("RGB", (len(columns) * (w + gap) - gap, header + len(lab8) * (h + gap) - gap), "white")
    draw = ImageDraw.Draw(canvas)
    for c, (label, rgb) in enumerate(columns):
        x = c * (w + gap)
        draw.multiline_text((x + 2, 1), label, fill="black", spacing=1)
        for i, pic in enumerate(rgb.permute(0, 2, 3, 1).numpy()):
            canvas.paste(Image.fromarray(pic).resize((w, h), Image.NEAREST), (x, header + i * (h + gap)))
    return canvas


def sweep_group_name(sweep_dir: Path) -> str:
    """The W&B group the sweep's jobs logged to (the rule of ``colorization.config``'s resolver)."""
    from colorization.config import sweep_group_for

    return sweep_group_for(Path(sweep_dir).resolve())


def _wandb_target(sweep_dir: Path, jobs: list[dict[str, Any]]) -> tuple[str, str | None]:
    """``(project, entity)`` the jobs logged to (their ``logger.wandb`` config), else ``("colorization", None)``."""
    for r in jobs:
        path = sweep_dir / r["job"] / ".hydra" / "config.yaml"
        if path.is_file():
            wb = OmegaConf.select(OmegaConf.load(path), "logger.wandb")
            if wb is not None and wb.get("project"):
                return str(wb.get("project")), wb.get("entity")
    return "colorization", None


def summary_settings(sweep_dir: Path) -> dict[str, Any]:
    """``baseline_model``, ``confidence``, ``n_resamples`` of the sweep's own summary callback (a job's
    ``.hydra/hydra.yaml``), so the report recomputes the summary the sweep printed; the defaults without one."""
    settings: dict[str, Any] = {"baseline_model": "vanilla", "confidence": 0.95, "n_resamples": 2000}
    for path in sorted(Path(sweep_dir).glob("*/.hydra/hydra.yaml")):
        callback = OmegaConf.select(OmegaConf.load(path), "hydra.callbacks.sweep_summary")
        if callback is not None:
            settings.update({k: callback[k] for k in settings if callback.get(k) is not None})
            break
    return settings


def log_to_wandb(sweep_dir: Path, summary: Any, images: dict[str, Path]) -> Path:
    """The PNGs (W&B key -> path) and the report table (``study/summary``) as one W&B run of job type ``study``
    in the sweep's group, saved under ``<sweep_dir>/wandb``; returns the run's dir."""
    from colorization.integrations.wandb import log_study_run

    head = table_head(summary.baseline_model)
    rows = [table_cells(g, summary.baseline_model) for g in summary.groups]
    project, entity = _wandb_target(sweep_dir, summary.jobs)
    group = sweep_group_name(sweep_dir)
    return log_study_run(sweep_dir, group, images, head, rows, project=project, entity=entity,
                         name=group.replace("sweep-", "study-", 1))


def main(argv: list[str] | None = None, prog: str = "colorization study-report") -> int:
    """Print the table; write the plots (and the grid); log them to W&B when asked. Exit 0; 2 for a bad argument."""
    from colorization.reports.sweep_summary import summarize

    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--grid", type=Path, help="write the picture of test photos here (PNG)")
    p.add_argument("--images", type=int, default=6, help="test images in the picture")
    p.add_argument("--plots-dir", type=Path, help="where the plots go (default: the sweep dir)")
    p.add_argument("--wandb", action="store_true", help="log plots, grid and table as a W&B run of the sweep's group")
    p.add_argument("--baseline", help="the model every other is compared with (same loss; default: the sweep's)")
    args = p.parse_args(argv)
    if not args.sweep_dir.is_dir():
        p.error(f"{args.sweep_dir} is not a directory (expected a sweep dir such as multirun/<date>/<time>-<pid>)")

    settings = summary_settings(args.sweep_dir)
    # The same statistics as the sweep's callback, so summary.csv / .md and jobs.csv are rewritten unchanged.
    summary = summarize(args.sweep_dir, args.baseline or settings["baseline_model"], show=False,
                        confidence=settings["confidence"], n_resamples=settings["n_resamples"])
    print(caption(summary.baseline_model, summary.confidence), end="\n\n")
    print(results_table(summary.groups, summary.baseline_model))
    plots = write_study_plots(args.sweep_dir, summary.groups, summary.jobs, args.plots_dir)
    print("\nplots: " + ", ".join(str(path) for path in plots))
    images = {f"study/{path.stem.removeprefix('study_')}": path for path in plots}  # study/psnr, ...
    if args.grid:
        png = io.BytesIO()
        comparison_grid(args.sweep_dir, summary.groups, summary.jobs, args.images).save(png, format="PNG")
        atomic_write(args.grid, png.getvalue())
        images["study/grid"] = args.grid
        print(f"grid: {args.grid}")
    if args.wandb:
        print(f"W&B run: {log_to_wandb(args.sweep_dir, summary, images)}")
    return 0

