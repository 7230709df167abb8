"""Every option of every config group composes, and resolves, with the train and eval configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

import colorization.config  # noqa: F401
from colorization.train import CONFIG_DIR

GROUPS = ["data", "model", "loss", "optimizer", "scheduler", "trainer", "callbacks", "logger",
          "experiment", "hparams_search", "debug"]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in _options(g)]


def _compose(config_name: str, overrides: list[str], tmp_path: Path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    # Resolve as a running job would: hydra:runtime.* needs a HydraConfig and an output dir.
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path)
        cfg.hydra.runtime.cwd = str(tmp_path)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_every_group_has_options():
    for g in GROUPS:
        assert _options(g), f"conf/{g} has no options"


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_train_option_composes_and_resolves(group, option, tmp_path):
    cfg = _compose("train", [f"{group}={option}"], tmp_path)
    container = OmegaConf.to_container(cfg, resolve=True)
    assert container["module"]["_target_"] == "colorization.training.module.ColorizationModule"
    assert container["trainer"]["_target_"].endswith("Trainer")
    assert container["paths"]["output_dir"] == str(tmp_path)
    if group in ("model", "loss"):
        assert container[group]["name"] == option.split("_")[0]  # unet_imagenet is a unet


def test_eval_config_composes(tmp_path):
    cfg = _compose("eval", ["ckpt_path=/some.ckpt"], tmp_path)
    assert OmegaConf.to_container(cfg, resolve=True)["ckpt_path"] == "/some.ckpt"


def test_width_knob_scales_the_decoder(tmp_path):
    cfg = _compose("train", ["model=unet", "model.width=8"], tmp_path)
    assert list(cfg.module.model.decoder_channels) == [128, 64, 32, 16, 8]
    cfg = _compose("train", ["model=vanilla", "model.width=16"], tmp_path)
    assert list(cfg.model.widths) == [16, 32, 64, 128]


def test_run_dirs_are_unique_per_process(tmp_path):
    cfg = _compose("train", [], tmp_path)
    run_dir = OmegaConf.to_container(cfg.hydra.run, resolve=True)["dir"]
    assert run_dir.endswith(f"-{__import__('os').getpid()}")
    assert "/outputs/" in run_dir


def test_gpu_trainer_turns_on_bf16_and_channels_last(tmp_path):
    cfg = _compose("train", ["trainer=gpu"], tmp_path)
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.max_epochs > 0  # still inherits the defaults
    assert cfg.module.model.channels_last is True
