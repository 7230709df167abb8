"""Every option of every config group composes, and resolves, with the train and eval configs; each group names a
class (`_target_`) or a registry entry (`name`), as the package has them; every model option builds its network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
from omegaconf import OmegaConf, open_dict

import colorization.config  # noqa: F401
from colorization.losses import list_losses
from colorization.models import (
    EFFICIENTNET_LITE0_PACKAGE,
    list_models,
    load_efficientnet_lite0_package_state_dict,
    model_from_config,
)
from colorization.train import CONFIG_DIR

# Every group directory is tested, so a new group is covered the day it appears; hydra/ holds Hydra's own
# settings (its launcher options need their plugins) and local/ is per-machine and never in git.
NOT_GROUPS = {"hydra", "local"}
GROUPS = sorted(p.name for p in Path(CONFIG_DIR).iterdir() if p.is_dir() and p.name not in NOT_GROUPS)
# The groups whose options name a registry entry (`name`): the module builds these itself and checkpoints
# store them as plain hyper-parameters. Groups naming a class (`_target_`) are instantiated by Hydra.
REGISTRIES = {"model": list_models(), "loss": list_losses()}
TARGET_GROUPS = ["data", "module", "optimizer", "scheduler"]
# How to run a network is the module's business (compile, channels_last), never the model config's.
RUN_OPTIONS = ("compile", "compile_backend", "compile_mode", "channels_last")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def _is_preset(group: str, option: str) -> bool:
    """A global-package option sets other groups (trainer=gpu sets the precision), naming nothing itself."""
    return "# @package _global_" in (Path(CONFIG_DIR) / group / f"{option}.yaml").read_text()


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
    assert {"data", "model", "loss", "optimizer", "scheduler", "trainer", "callbacks", "logger", "paths",
            "experiment", "hparams_search", "debug"} <= set(GROUPS)
    for g in GROUPS:
        assert _options(g), f"conf/{g} has no options"


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_train_option_composes_and_resolves(group, option, tmp_path):
    cfg = _compose("train", [f"{group}={option}"], tmp_path)
    container = OmegaConf.to_container(cfg, resolve=True)
    assert container["module"]["_target_"].startswith("colorization.training.")
    assert container["trainer"]["_target_"].endswith("Trainer")
    assert container["paths"]["output_dir"] == str(tmp_path)
    if group in REGISTRIES:
        name = container[group]["name"]
        assert name in REGISTRIES[group] and "_target_" not in container[group], (option, name)
        # An option is named for its registry entry, then what it sets: unet_efficientnet_lite0 is a unet.
        assert _is_preset(group, option) or option == name or option.startswith(f"{name}_"), (option, name)
    if group == "model":
        assert not set(RUN_OPTIONS) & set(container["model"]), f"model={option} holds run options"


@pytest.mark.parametrize("group", TARGET_GROUPS)
def test_class_groups_name_an_importable_class(group):
    for option in _options(group):
        node = OmegaConf.load(Path(CONFIG_DIR) / group / f"{option}.yaml")
        if _is_preset(group, option):
            continue
        if group == "scheduler" and option == "none":
            assert not node  # the one option that builds nothing: a constant learning rate
            continue
        assert isinstance(get_class(node["_target_"]), type), f"{group}={option}"
        assert "name" not in node


@pytest.mark.parametrize("option", [o for o in _options("model") if "efficientnet_lite0" not in o])
def test_model_option_builds_its_network(option, tmp_path):
    cfg = _compose("train", [f"model={option}", "model.width=4"], tmp_path)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    net = model_from_config(model_cfg, out_channels=2).eval()
    classes = {"vanilla": "VanillaCNN", "resnet": "EncoderDecoder", "encoder_decoder": "EncoderDecoder", "unet": "UNet"}
    assert type(net).__name__ == classes[option]
    assert getattr(net, "encoder_name", None) == model_cfg.get("encoder")  # resnet34 by default, none for vanilla
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 20, 12)).shape == (1, 2, 20, 12)


@pytest.mark.parametrize("option", _options("model"))
def test_every_model_option_takes_the_weight_switches(option, tmp_path):
    # One sweep mixes models: `-m model=vanilla,resnet,unet model.pretrained=false` must override in each.
    cfg = _compose("train", [f"model={option}", "model.pretrained=false", "model.weights=null"], tmp_path)
    assert cfg.model.pretrained is False and cfg.model.weights is None


def test_vanilla_loads_nothing_and_says_so(tmp_path, caplog):
    cfg = _compose("train", ["model=vanilla", "model.pretrained=true", "model.width=4"], tmp_path)
    with caplog.at_level("INFO", logger="colorization.models.vanilla"):
        net = model_from_config(OmegaConf.to_container(cfg.model, resolve=True), out_channels=2)
    assert type(net).__name__ == "VanillaCNN"
    assert caplog.messages == ["model.pretrained=true: vanilla has no pretrained weights to load; it starts from "
                               "scratch"]


@pytest.mark.parametrize("option", [o for o in _options("model") if "efficientnet_lite0" in o])
def test_efficientnet_lite0_models_build_that_encoder(option, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the ImageNet weights come from the installed package
    cfg = _compose("train", [f"model={option}", "model.width=4"], tmp_path)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    assert model_cfg["encoder"] == "tf_efficientnet_lite0"
    assert model_cfg["name"] == option.split("_efficientnet")[0]
    torch.manual_seed(0)
    net = model_from_config(model_cfg, out_channels=313)
    assert net.encoder_name == "tf_efficientnet_lite0" and type(net.encoder).__name__ == "EfficientNetFeatures"
    assert net.encoder.feature_info.reduction() == [2, 4, 8, 16, 32]
    assert net.head.out_channels == 313 and list(model_cfg["decoder_channels"]) == [64, 32, 16, 8, 4]
    stem = net.encoder.state_dict()["conv_stem.weight"]
    if option.endswith("_imagenet"):
        assert model_cfg["weights"] == EFFICIENTNET_LITE0_PACKAGE
        package = load_efficientnet_lite0_package_state_dict()
        assert torch.equal(stem, package["conv_stem.weight"].sum(dim=1, keepdim=True))
        key = "blocks.6.0.bn3.running_var"
        assert torch.equal(net.encoder.state_dict()[key], package[key])
    else:
        assert model_cfg["weights"] is None and not model_cfg["pretrained"]


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


def test_gpu_trainer_chooses_its_precision_and_leaves_run_options_to_the_module(tmp_path):
    cfg = _compose("train", ["trainer=gpu"], tmp_path)
    # bf16 or fp16 by the GPU's capability (resolved values: tests/unit/test_precision.py).
    assert cfg.trainer.accelerator == "gpu"
    assert OmegaConf.to_container(cfg.trainer)["precision"] == "${colorization.precision:auto}"
    assert cfg.trainer.max_epochs > 0  # still inherits the defaults
    # channels_last and compile are how the module runs the network: its arguments, not the model's config.
    assert cfg.module.channels_last == "auto" and cfg.module.compile.enabled is False
    assert not set(RUN_OPTIONS) & set(cfg.model)


@pytest.mark.parametrize("option", _options("experiment"))
def test_experiment_sweeps_name_existing_options(option):
    params = OmegaConf.load(Path(CONFIG_DIR) / "experiment" / f"{option}.yaml").get("hydra", {}).get("sweeper", {})
    for group, choices in (params.get("params") or {}).items():
        if group in GROUPS:  # a group choice, not a key=value sweep
            assert set(choices.split(",")) <= set(_options(group)), f"experiment={option} sweeps {group}={choices}"
