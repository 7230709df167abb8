"""Evaluate a checkpoint: ``python eval.py ckpt_path=PATH [data=...]`` or ``python -m colorization.eval``.

The model and loss come from the checkpoint; the data from the config (default: the sample set's test split).
Writes ``metrics.json`` (``test/psnr``, ..., and the gray baseline ``test/psnr_gray``, ...) into the run dir.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig
from PIL import Image

from colorization.module import ColorizationModule
from colorization.utils import resolvers  # noqa: F401 - registers the config resolvers
from colorization.utils.instantiate import instantiate_dict
from colorization.utils.job import run_job, write_json

log = logging.getLogger(__name__)

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def load_module(ckpt_path: str | Path, map_location: str | torch.device = "cpu") -> ColorizationModule:
    """A trained module from a ``train.py`` checkpoint; no config needed (hyper-parameters are inside)."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass the path printed at the end of training")
    return ColorizationModule.load_from_checkpoint(path, map_location=map_location, weights_only=False)


def save_colorized(module: ColorizationModule, datamodule: L.LightningDataModule, out_dir: Path) -> int:
    """Colorize every test image (true L + predicted ab) into ``out_dir/NNNNN.png``; returns the count."""
    out_dir.mkdir(parents=True, exist_ok=True)
    module.eval()
    n = 0
    for batch in datamodule.test_dataloader():
        rgb = module.predict_step(batch.to(module.device), 0)
        for img in rgb.permute(0, 2, 3, 1).cpu().numpy():
            Image.fromarray(img).save(out_dir / f"{n:05d}.png")
            n += 1
    return n


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    module = load_module(cfg.ckpt_path)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    loggers = instantiate_dict(cfg.get("logger"), "logger")
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    trainer.test(module, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    result: dict[str, Any] = {"metrics": metrics, "ckpt_path": str(cfg.ckpt_path)}
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", metrics)
        if cfg.get("save_images"):
            result["colorized"] = save_colorized(module, datamodule, output_dir / "colorized")
        log.info("metrics: %s -> %s", metrics, output_dir / "metrics.json")
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> float | None:
    return run_job(cfg, evaluate)


if __name__ == "__main__":
    main()
