"""What a run tells its loggers and its user: the resolved config, the test table, where things landed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@rank_zero_only
def log_config(trainer: L.Trainer, cfg: DictConfig) -> None:
    """Send the resolved config to every logger (W&B shows it as the run's config)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(resolved)


@rank_zero_only
def log_test_table(trainer: L.Trainer, metrics: dict[str, float]) -> None:
    """The test metrics as one W&B table: metric | model | gray baseline."""
    wandb_loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
    if not wandb_loggers or not metrics:
        return
    rows = []
    for key, value in sorted(metrics.items()):
        if key.endswith("_gray"):
            continue
        rows.append([key, value, metrics.get(f"{key}_gray")])
    for lg in wandb_loggers:
        lg.log_table(key="test/metrics", columns=["metric", "model", "gray baseline"], data=rows)


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
    samples = output_dir / "samples"
    if samples.exists():
        grids = sorted(samples.glob("epoch_*.png"))
        latest = f" ({len(grids)} PNG, latest {grids[-1].name})" if grids else ""
        table.add_row("sample grids", f"{samples}{latest}")
    for lg in trainer.loggers:
        if isinstance(lg, WandbLogger):
            run = lg.experiment
            where = getattr(run, "dir", None) or lg.save_dir
            mode = "offline: `wandb sync` it to upload" if getattr(run, "offline", False) else getattr(run, "url", "")
            table.add_row("W&B run", f"{Path(where).parent} ({mode})")
    metrics = result.get("metrics", {})
    for key in ("test/psnr", "test/psnr_gray", "test/ssim", "test/dcf", "test/auc"):
        if key in metrics:
            table.add_row(key, f"{metrics[key]:.4f}")
    Console(width=max(100, Console().width)).print(table)
