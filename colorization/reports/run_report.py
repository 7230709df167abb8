"""What a run tells its loggers and its user: the resolved config, its final metrics, where things landed.

(Everything W&B-specific, the test table included, sits beside the W&B logger factory in ``training/``.)"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from colorization.integrations.wandb import describe_wandb_runs

log = logging.getLogger(__name__)


@rank_zero_only
def log_config(trainer: L.Trainer, cfg: DictConfig) -> None:
    """Send the resolved config to every logger (W&B shows it as the run's config)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(resolved)


def final_metrics(fit_metrics: dict[str, float], test_metrics: dict[str, float]) -> dict[str, float]:
    """The numbers a run is judged by: all test metrics and the best validation values."""
    out = dict(test_metrics)
    out.update({k: v for k, v in fit_metrics.items() if k.startswith("val/") and k.endswith("_best")})
    return out


def print_locations(trainer: L.Trainer, result: dict[str, Any], output_dir: Path) -> None:
    """End of a run: where the checkpoint, metrics, sample grids and W&B run are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Run finished", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("where", overflow="fold")
    table.add_row("run dir", str(output_dir))
    table.add_row("best checkpoint", result.get("best_ckpt") or "(none)")
    last = Path(result["last_ckpt"])
    table.add_row("last checkpoint", str(last) if last.exists() else "(none)")
    table.add_row("metrics", str(output_dir / "metrics.json"))
    if result.get("report"):
        table.add_row("report", result["report"])
    samples = output_dir / "samples"
    if samples.exists():
        grids = sorted(samples.glob("epoch_*.png"))
        latest = f" ({len(grids)} PNG, latest {grids[-1].name})" if grids else ""
        table.add_row("sample grids", f"{samples}{latest}")
    for where in describe_wandb_runs(trainer):
        table.add_row("W&B run", where)
    metrics = result.get("metrics", {})
    for key in ("test/psnr", "test/psnr_gray", "test/ssim", "test/dcf", "test/auc"):
        if key in metrics:
            table.add_row(key, f"{metrics[key]:.4f}")
    Console(width=max(100, Console().width)).print(table)
