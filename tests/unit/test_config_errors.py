"""A mistyped option fails at once with one sentence naming the option, the value and what is allowed.

The config is composed once (Hydra's compose API, as ``train.py`` composes it) and each case changes one option,
then goes through what ``train()`` does before the trainer: the DataModule, the option checks, the module (loss,
then network). The line ``job_status.json`` would hold (``describe_error``) is the project's own sentence.
"""

from __future__ import annotations

import copy

import hydra
import pytest
from omegaconf import OmegaConf, open_dict

from colorization.config_checks import check_run_options
from colorization.errors import ConfigError
from colorization.runs.job import describe_error
from tests.support.in_process import compose_config


@pytest.fixture(scope="module")
def base_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("config_errors")
    cfg = compose_config("train", ["model=vanilla", "loss=ce"], root / "run", root / "data")
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def build_until_trainer(cfg) -> None:
    """``train()``'s steps before the trainer, minus the data source check (nothing on disk here)."""
    hydra.utils.instantiate(cfg.data)
    check_run_options(cfg)
    hydra.utils.instantiate(cfg.module)


CASES = [
    ("model.width", -1, "model.width=-1: must be a positive integer (the number of channels of the first layer"),
    ("model.width", 0.5, "model.width=0.5: must be a positive integer"),
    ("model.widths", [], "model.widths=[]: must be a non-empty list of positive integers"),
    ("model.convs_per_stage", 0, "model.convs_per_stage=0: must be a positive integer"),
    ("model.head_stride", 3, "model.head_stride=3: must be a power of two below the vanilla encoder's stride 16"),
    ("model.head_kernel_size", 2, "model.head_kernel_size=2: must be odd"),
    ("loss.output_stride", 3, "loss.output_stride=3: must be a power of two"),
    ("loss.k", 0, "loss.k=0: must be a positive integer"),
    ("loss.k", 400, "loss.k=400: must be at most 313"),
    ("loss.sigma", -5.0, "loss.sigma=-5.0: must be a number > 0"),
    ("loss.lam", 1.5, "loss.lam=1.5: must be a number in [0, 1]"),
    ("loss.temperature", 0, "loss.temperature=0: must be a number > 0"),
    ("data.batch_size", 0, "data.batch_size=0: must be a positive integer (images per batch and device)"),
    ("data.image_size", -64, "data.image_size=-64: must be a positive integer"),
    ("data.num_workers", -1, "data.num_workers=-1: must be a non-negative integer"),
    ("data.source", "kagle", "data.source='kagle': must be one of sample, kaggle, folder"),
    ("data.augment.hflip_p", 2.0, "data.augment.hflip_p=2.0: must be a number in [0, 1]"),
    ("data.augment.crop_scale", [0.9, 0.5], "data.augment.crop_scale=[0.9, 0.5]: must be a pair [low, high]"),
    ("data.sample.crops_per_photo", 0, "data.sample.crops_per_photo=0: must be a positive integer"),
    ("optimizer.lr", -1, "optimizer.lr=-1: must be a number > 0 (the learning rate)"),
    ("optimizer.weight_decay", -0.1, "optimizer.weight_decay=-0.1: must be a number >= 0"),
    ("optimizer.betas", [0.9, 1.5], "optimizer.betas=1.5: must be a number in [0, 1)"),
    ("scheduler.eta_min", -1e-5, "scheduler.eta_min=-1e-05: must be a number >= 0"),
    ("trainer.max_epochs", 0, "trainer.max_epochs=0: must be a positive integer (epochs to train; -1: no limit)"),
    ("trainer.min_epochs", 20, "trainer.min_epochs=20 > trainer.max_epochs=10"),
    ("trainer.devices", 0, "trainer.devices=0: must be a positive integer"),
    ("module.freeze_encoder_epochs", -1, "module.freeze_encoder_epochs=-1: must be a non-negative integer"),
]


@pytest.mark.parametrize(("option", "value", "sentence"), CASES, ids=[f"{o}={v}" for o, v, _ in CASES])
def test_a_bad_option_is_one_sentence_naming_it(base_cfg, option, value, sentence):
    cfg = copy.deepcopy(base_cfg)
    OmegaConf.update(cfg, option, value, force_add=True)
    with pytest.raises(Exception) as raised:  # noqa: PT011 - instantiate wraps ours; describe_error unwraps it
        build_until_trainer(cfg)
    line = describe_error(raised.value)
    assert line.startswith(f"ConfigError: {sentence}"), line
    assert "\n" not in line


def test_the_defaults_and_the_edges_pass(base_cfg):
    cfg = copy.deepcopy(base_cfg)
    check_run_options(cfg)  # the shipped config is valid
    for option, value in [("trainer.max_epochs", -1), ("trainer.min_epochs", 0), ("optimizer.weight_decay", 0.0),
                          ("trainer.devices", -1), ("trainer.devices", "auto"), ("trainer.gradient_clip_val", None)]:
        OmegaConf.update(cfg, option, value, force_add=True)
    with open_dict(cfg):
        cfg.scheduler = {}  # scheduler=none
    check_run_options(cfg)


def test_constructors_check_their_own_arguments():
    """The Python API gets the same sentences as a config (the constructors are where the values are used)."""
    from colorization.data import ColorizationDataModule
    from colorization.losses import create_loss
    from colorization.models import create_model

    with pytest.raises(ConfigError, match=r"^data.val_fraction=0.6 \+ data.test_fraction=0.5: must add up to less"):
        ColorizationDataModule(source="folder", root="x", val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ConfigError, match=r"^loss.delta=0: must be a number > 0"):
        create_loss("huber", delta=0)
    with pytest.raises(ConfigError, match=r"^model.decoder_channels=\[16, -8\]: must be a non-empty list"):
        create_model("unet", 2, encoder="resnet18", pretrained=False, decoder_channels=[16, -8])
    with pytest.raises(ConfigError, match=r"^model.encoder='resnet35': not a timm model name"):
        create_model("unet", 2, encoder="resnet35", pretrained=True)
    with pytest.raises(ConfigError, match=r"^model.attention='sce': must be one of"):
        create_model("encoder_decoder", 2, encoder="resnet18", attention="sce")


def test_eval_names_ckpt_path_when_it_is_unset_or_a_directory(tmp_path):
    from tests.support.in_process import evaluate_in_process

    with pytest.raises(ConfigError, match=r"^ckpt_path is not set: pass the checkpoint to evaluate, e\.g\. python "):
        evaluate_in_process([], tmp_path / "run", tmp_path / "data")
    run_dir = tmp_path / "old_run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(ConfigError) as raised:
        evaluate_in_process([f"ckpt_path={run_dir}"], tmp_path / "run2", tmp_path / "data")
    assert str(raised.value) == (f"ckpt_path={run_dir} is a directory: pass a checkpoint file in it "
                                 f"(e.g. ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'})")
