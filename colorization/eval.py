"""Evaluate a checkpoint: ``python eval.py ckpt_path=PATH [data=...]`` or ``python -m colorization.eval``.

The network and loss come from the checkpoint (:func:`~colorization.inference.checkpoint.load_trained`), the
data from the config. By default the data's test split goes through ``trainer.test``; ``data=folder`` (with
``whole_photos=true``, the default) evaluates every colour photo whole instead, as ``colorize`` colours it
(:mod:`colorization.inference.folder_eval`). Either way ``metrics.json`` (``test/psnr``, ..., and the gray
baseline ``test/psnr_gray``, ...) lands in the run dir; ``save_images=true`` adds the colorized pictures. As with
``colorize``, a file under ``data.root`` that cannot be read is skipped and named, and makes the exit status 1
once the rest is done.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

import colorization
import colorization.config  # noqa: F401 - importing it registers the config resolvers (light: no torch)
from colorization.errors import ConfigError
from colorization.runs.user_errors import run_command

if TYPE_CHECKING:
    import lightning as L

    from colorization.inference.checkpoint import TrainedColorizer

# Lightning, torch and the rest are imported inside the functions: `python eval.py --help` and a missing
# ckpt_path answer before they would have loaded.

log = logging.getLogger(__name__)

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def save_test_images(trained: TrainedColorizer, datamodule: L.LightningDataModule, out_dir: Path) -> int:
    """Every test image, true L + predicted ab at its stored size, as ``out_dir/NNNNN.png``; returns the count."""
    from PIL import Image

    from colorization.inference.colorizer import Colorizer

    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for lab8, _ in datamodule.test_dataloader():  # uint8 LAB [B,3,H,W] (as stored, square) and their positions
        colorizer = Colorizer(trained, next(trained.parameters()).device, size=lab8.shape[-1])
        for rgb in colorizer.colorize_lab8(lab8.cpu()).numpy():
            Image.fromarray(rgb).save(out_dir / f"{n:05d}.png")
            n += 1
    return n


def check_ckpt_path(cfg: DictConfig) -> Path:
    """``cfg.ckpt_path`` as a path, or a ConfigError naming the option when it is unset, a directory or missing
    (a file that is no checkpoint gets its sentence from the loader)."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or cfg.get("ckpt_path") in (None, ""):
        raise ConfigError("ckpt_path is not set: pass the checkpoint to evaluate, e.g. "
                          "python eval.py ckpt_path=outputs/<date>/<time>/checkpoints/last.ckpt")
    path = Path(str(cfg.ckpt_path))
    if path.is_dir():
        # A run dir holds checkpoints/*.ckpt; look no deeper (the directory may be a large tree).
        found = sorted([*path.glob("*.ckpt"), *path.glob("checkpoints/*.ckpt")])
        hint = f"e.g. ckpt_path={found[0]}" if found else "it holds no .ckpt file"
        raise ConfigError(f"ckpt_path={path} is a directory: pass a checkpoint file in it ({hint})")
    if not path.exists():
        raise ConfigError(f"ckpt_path={path} does not exist: pass a checkpoint train.py wrote, e.g. "
                          "ckpt_path=outputs/<date>/<time>/checkpoints/last.ckpt")
    return path


def evaluate_test_split(cfg: DictConfig) -> dict[str, Any]:
    """``trainer.test`` of the checkpoint's network on the data's test split."""
    from colorization.config import instantiate_dict
    from colorization.config_checks import check_before_build
    from colorization.inference.checkpoint import load_trained
    from colorization.io.json_files import write_json
    from colorization.training.module import ColorizationModule

    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    check_before_build(cfg, datamodule)  # bad options and a missing / malformed data source fail before loading
    trained = load_trained(cfg.ckpt_path)
    module = ColorizationModule(model=trained.hparams["model"], loss=trained.hparams["loss"])
    module.net.load_state_dict(trained.net.state_dict())
    module.loss_fn.load_state_dict(trained.loss_fn.state_dict())
    loggers = instantiate_dict(cfg.get("logger"), "logger")
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    trainer.test(module, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    result: dict[str, Any] = {"metrics": metrics, "ckpt_path": str(cfg.ckpt_path)}
    if trainer.is_global_zero:
        out_dir = Path(cfg.paths.output_dir)
        write_json(out_dir / "metrics.json", metrics)
        if cfg.get("save_images"):
            # On the run's device: Lightning's teardown has moved `module` back to the CPU by now.
            device = trainer.strategy.root_device
            result["colorized"] = save_test_images(trained.to(device), datamodule, out_dir / "colorized")
        log.info("metrics: %s -> %s", metrics, out_dir / "metrics.json")
    return result


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.ckpt_path``: whole photos for ``data=folder`` (``whole_photos``), else the test split."""
    check_ckpt_path(cfg)  # before Lightning and torch load: a missing option or file is one line at once
    import lightning as L

    from colorization.inference.checkpoint import training_image_size
    from colorization.inference.folder_eval import evaluate_folder

    L.seed_everything(cfg.seed, workers=True)
    if cfg.data.get("source") == "folder" and cfg.get("whole_photos", True):
        size = cfg.get("size") or training_image_size(cfg.ckpt_path) or cfg.data.image_size
        return evaluate_folder(cfg.ckpt_path, cfg.data.root, cfg.paths.output_dir, int(size), cfg.device,
                               cfg.data.get("gray_tolerance", 2), bool(cfg.save_images), cfg.get("metrics"))
    return evaluate_test_split(cfg)


def evaluate_command(cfg: DictConfig) -> dict[str, Any]:
    """``python eval.py``'s job: :func:`evaluate`, then the rule ``colorize`` follows for files it skipped
    (:func:`refuse_skipped_files`)."""
    result = evaluate(cfg)
    refuse_skipped_files(result, cfg.data.get("root"))
    return result


def refuse_skipped_files(result: dict[str, Any], root: str | None) -> None:
    """The rule ``colorize`` follows: every file is done that can be (here: metrics.json over the readable photos,
    with the counts), then a file that could not be read fails the job, naming it (exit status 1, one line)."""
    from colorization.data.kaggle import DatasetError

    unreadable = result.get("unreadable_files") or []
    if unreadable:
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        raise DatasetError(f"data.root={root}: {len(unreadable)} unreadable file(s) skipped ({unreadable[0]}{more}); "
                           f"metrics.json covers the other {result['images']} photo(s): fix or remove them")


def name_the_checkpoint(cfg: DictConfig) -> DictConfig:
    """``cfg`` with ``model.name`` and ``loss.name`` of the checkpoint it evaluates, so that the job's log and
    ``job_status.json`` name them as a training job's do; unchanged when the checkpoint cannot be read (the job
    then fails on it with its own sentence)."""
    try:
        from colorization.io.checkpoints import read_checkpoint

        hparams = read_checkpoint(check_ckpt_path(cfg))["hyper_parameters"]
    except (ConfigError, OSError):
        return cfg
    with open_dict(cfg):
        cfg.model = {"name": hparams["model"]["name"]}
        cfg.loss = {"name": hparams["loss"]["name"]}
    return cfg


def main() -> float | None:
    """``python eval.py``: the short usage for ``--help`` (:func:`~colorization.config.answer_help`), else Hydra."""
    if colorization.config.answer_help("eval", CONFIG_DIR):
        return None
    return hydra_main()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def hydra_main(cfg: DictConfig) -> float | None:
    return run_command(name_the_checkpoint(cfg), evaluate_command)


if __name__ == "__main__":
    colorization.prefer_passive_omp_waits()  # python -m colorization.eval: before anything imports torch
    main()
