"""Evaluate a checkpoint: ``python eval.py ckpt_path=PATH [data=...]`` or ``python -m colorization.eval``.

The model and loss come from the checkpoint; the data from the config (default: the sample set's test split,
through ``trainer.test``). Writes ``metrics.json`` (``test/psnr``, ..., and the gray baseline
``test/psnr_gray``, ...) into the run dir.

``data=folder data.root=DIR`` (with ``whole_photos=true``, the default) evaluates every colour photo under
DIR whole, as the ``colorize`` command colours it: the network sees the photo's L resized to ``size``, its ab
is upsampled bilinearly to the full size and joined with the true L, and the metrics compare that with the
photo at full resolution (per-photo PSNR / SSIM / ..., averaged over photos). Grayscale and unreadable files
are skipped and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from colorization.color import AB_SCALE, lab8_to_normalized, rgb_to_lab8
from colorization.config import instantiate_dict  # importing it registers the config resolvers
from colorization.data.folder import load_rgb, scan_images
from colorization.inference.colorizer import Colorizer, load_colorizer
from colorization.metrics import ColorizationMetrics
from colorization.runs.job import run_job, write_json
from colorization.training.module import ColorizationModule

log = logging.getLogger(__name__)

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def load_module(ckpt_path: str | Path, map_location: str | torch.device = "cpu") -> ColorizationModule:
    """A trained module from a ``train.py`` checkpoint; no config needed (hyper-parameters are inside).

    Pretrained-weight options are switched off on the way in: the checkpoint holds the weights already.
    """
    from colorization.inference.colorizer import load_colorization_module

    return load_colorization_module(ckpt_path, map_location=map_location)


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


def checkpoint_image_size(ckpt_path: str | Path) -> int | None:
    """The ``data.image_size`` the checkpoint was trained at, from its run's ``.hydra/config.yaml``
    (``<run>/checkpoints/x.ckpt``), or None when that file is not there."""
    config = Path(ckpt_path).resolve().parent.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        return None
    size = OmegaConf.select(OmegaConf.load(config), "data.image_size", default=None)
    return int(size) if isinstance(size, int) else None


def photo_metrics_input(rgb: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB uint8 ``[H,W,3]`` -> ``(L [1,1,H,W] in [-1,1], ab [1,2,H,W] normalised)`` on ``device``, through the
    same 8-bit LAB encoding as every dataset (so whole-photo numbers match crop-based ones in kind)."""
    lab8 = rgb_to_lab8(torch.from_numpy(np.require(rgb, requirements=["C", "W"])).permute(2, 0, 1))[None]
    return lab8_to_normalized(lab8.to(device))


def predict_full_ab(colorizer: Colorizer, L_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``L [1,1,H,W]`` in [-1,1] -> ``(ab [1,2,H,W] normalised at full size, ab* [2,size,size] as predicted)``.

    The network sees L resized to ``colorizer.size``; its ab is upsampled bilinearly, as ``colorize`` does.
    """
    ab_small = colorizer.predict_ab([(L_[0].float() + 1.0) * 50.0])[0]  # L* in [0,100] -> ab* units
    full = F.interpolate(ab_small[None], size=L_.shape[-2:], mode="bilinear", align_corners=False)
    return full / AB_SCALE, ab_small


def evaluate_folder(cfg: DictConfig) -> dict[str, Any]:
    """Every colour photo under ``cfg.data.root``, whole, at full resolution; see the module docstring."""
    output_dir = Path(cfg.paths.output_dir)
    root = Path(cfg.data.root)
    scan = scan_images(root, gray_tolerance=cfg.data.get("gray_tolerance", 2))
    size = cfg.get("size") or checkpoint_image_size(cfg.ckpt_path) or cfg.data.image_size
    colorizer = load_colorizer(cfg.ckpt_path, device=cfg.get("device", "auto"), size=int(size))
    metrics = ColorizationMetrics(**cfg.get("metrics", {})).to(colorizer.device)
    save_dir = output_dir / "colorized" if cfg.get("save_images") else None
    unreadable = [str(p) for p in scan.unreadable]
    too_small: list[str] = []
    evaluated = 0
    min_side = metrics.metric_kwargs["ssim_kernel_size"]
    for path in scan.files:
        try:
            rgb = load_rgb(path)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for broken files; skip and count
            log.warning("skipping unreadable image %s: %s", path, err)
            unreadable.append(str(path))
            continue
        if min(rgb.shape[:2]) < min_side:
            too_small.append(str(path))  # SSIM needs at least one full window
            continue
        L_, ab = photo_metrics_input(rgb, colorizer.device)
        ab_pred, ab_small = predict_full_ab(colorizer, L_)
        metrics.update(L_, ab_pred, ab)
        evaluated += 1
        if save_dir is not None:
            out = (save_dir / path.relative_to(root)).with_suffix(".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(colorizer.compose((L_[0] + 1.0) * 50.0, ab_small)).save(out)
    if evaluated == 0:
        raise FileNotFoundError(f"no colour photo under {root} could be evaluated "
                                f"({len(scan.grayscale)} grayscale, {len(unreadable)} unreadable, "
                                f"{len(too_small)} smaller than {min_side} px)")
    values = {f"test/{k}": float(v) for k, v in metrics.compute().items()}
    counts = {"images": evaluated, "skipped_grayscale": len(scan.grayscale), "skipped_unreadable": len(unreadable),
              "skipped_too_small": len(too_small)}
    write_json(output_dir / "metrics.json", {**values, **counts, "size": int(size)})
    log.info("%d photo(s) evaluated whole at network size %d; skipped %d grayscale, %d unreadable, %d too small",
             evaluated, size, len(scan.grayscale), len(unreadable), len(too_small))
    log.info("metrics: %s -> %s", values, output_dir / "metrics.json")
    result: dict[str, Any] = {"metrics": values, "ckpt_path": str(cfg.ckpt_path), **counts,
                              "unreadable_files": unreadable}
    if save_dir is not None:
        result["colorized"] = evaluated
    return result


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    L.seed_everything(cfg.seed, workers=True)
    if cfg.data.get("source") == "folder" and cfg.get("whole_photos", True):
        return evaluate_folder(cfg)
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
