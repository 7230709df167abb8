"""Training entry point: ``python train.py [overrides]`` or ``python -m colorization.train``.

Seeds, builds data / module / callbacks / loggers / trainer from the config, fits, tests the best checkpoint
and writes ``metrics.json`` (dataset means) and ``test_images.csv`` (every test image's own metrics, one row per
image id) into the run dir. Returns the optimised metric (for Optuna).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig

import colorization
import colorization.config  # noqa: F401 - importing it registers the config resolvers (light: no torch)
from colorization.runs.user_errors import run_command

if TYPE_CHECKING:
    import lightning as L

# Lightning, torch and the rest are imported inside train(): `python train.py --help` and a config typo answer
# before they would have loaded (torch alone takes ~2 s).

log = logging.getLogger(__name__)

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def write_test_images(module: L.LightningModule, datamodule: L.LightningDataModule, path: Path) -> Path | None:
    """``test_images.csv`` from the last test's per-image metrics (all ranks'; call on rank zero), or ``None``
    when that test kept none (its batches carried no positions)."""
    from colorization.metrics import write_image_metrics

    tested = getattr(module, "test_images", None)
    if tested is None or not hasattr(datamodule, "image_ids"):
        return None
    return write_image_metrics(path, datamodule.image_ids("test", tested["position"]), tested)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit and test one configuration; returns ``{"metrics": {...}, "best_ckpt": ..., ...}``."""
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor

    from colorization.config import instantiate_dict
    from colorization.config_checks import check_before_build
    from colorization.integrations.wandb import log_test_table
    from colorization.io.json_files import write_json
    from colorization.reports.report_html import write_run_report
    from colorization.reports.run_report import final_metrics, log_config, print_locations
    from colorization.training.resume import prepare_fit

    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)

    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    check_before_build(cfg, datamodule)  # bad options and a missing / malformed data source fail here, in a second
    module: L.LightningModule = hydra.utils.instantiate(cfg.module)
    callbacks = instantiate_dict(cfg.get("callbacks"), "callback")
    loggers = instantiate_dict(cfg.get("logger"), "logger")
    if not loggers:
        # Lightning refuses a LearningRateMonitor without a logger; with logger=none there is nothing to monitor.
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    log_config(trainer, cfg)

    ckpt_path = None
    if cfg.get("train", True):
        # ckpt_path resolved (last -> the newest readable checkpoint) and checked against this run before fitting;
        # the CSV logger told where to continue its file.
        ckpt_path = prepare_fit(trainer, module, loggers, cfg.get("ckpt_path"), output_dir)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)  # data, never code
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    best_ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    test_metrics: dict[str, float] = {}
    test_images: Path | None = None
    if cfg.get("test", True) and not trainer.fast_dev_run:
        # The best checkpoint when there is one; otherwise the weights as they are now.
        trainer.test(module, datamodule=datamodule, ckpt_path=best_ckpt or None, weights_only=True)
        test_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        log_test_table(trainer, test_metrics)
        if trainer.is_global_zero:
            test_images = write_test_images(module, datamodule, output_dir / "test_images.csv")

    metrics = final_metrics(fit_metrics, test_metrics)
    result = {
        "metrics": metrics,
        "best_ckpt": best_ckpt,
        "resumed_from": ckpt_path,
        "last_ckpt": str(output_dir / "checkpoints" / "last.ckpt"),
        "epochs": trainer.current_epoch,
        "test_images": str(test_images) if test_images else None,
        "seed": cfg.seed,
        # Where the network's encoder started from (imagenet:<hub id>, file:, package:, scratch).
        "encoder_weights": getattr(getattr(module, "net", None), "encoder_weights", None),
    }
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", metrics)
        try:
            result["report"] = str(write_run_report(output_dir, result["encoder_weights"]))
        except Exception:  # noqa: BLE001 - the page is a view of files already written; it must not fail the run
            log.exception("report.html not written")
        print_locations(trainer, result, output_dir)
    return result


def main() -> float | None:
    """``python train.py``: the short usage for ``--help`` (:func:`~colorization.config.answer_help`), else Hydra."""
    if colorization.config.answer_help("train", CONFIG_DIR):
        return None
    return hydra_main()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    return run_command(cfg, train)


if __name__ == "__main__":
    colorization.prefer_passive_omp_waits()  # python -m colorization.train: before anything imports torch
    main()
