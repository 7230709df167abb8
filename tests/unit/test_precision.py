"""trainer=gpu and trainer=ddp train in bf16 on cards with native bf16 and in fp16 with a gradient scaler on cards
without, say which in the log, and yield to an explicit trainer.precision. The GPUs are mocked: only
``torch.cuda``'s answers are faked, the choice, the config resolution and Lightning's plugin are real."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from lightning.pytorch.plugins.precision import MixedPrecision
from omegaconf import OmegaConf

import colorization.config  # noqa: F401 - registers the resolvers
from colorization.train import CONFIG_DIR
from colorization.training import precision

CARDS = {
    "NVIDIA H100 80GB HBM3": ((9, 0), "bf16-mixed"),
    "NVIDIA A100-SXM4-80GB": ((8, 0), "bf16-mixed"),
    "NVIDIA L4": ((8, 9), "bf16-mixed"),
    "Tesla T4": ((7, 5), "16-mixed"),
    "Tesla V100-SXM2-16GB": ((7, 0), "16-mixed"),
    "Tesla P100-PCIE-16GB": ((6, 0), "16-mixed"),
}


@pytest.fixture
def gpu(monkeypatch):
    """``gpu(name)`` makes torch.cuda report one visible card of that name and its real compute capability."""

    def install(name: str) -> None:
        capability = CARDS[name][0]
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
        precision.choose_precision.cache_clear()

    yield install
    precision.choose_precision.cache_clear()


def _trainer_precision(overrides: list[str]) -> str:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    return cfg.trainer.precision


@pytest.mark.parametrize("name", CARDS)
def test_capability_decides_bf16_or_fp16(name):
    capability, expected = CARDS[name]
    assert precision.precision_for_capability(capability) == expected


@pytest.mark.parametrize(("name", "expected"), [("NVIDIA H100 80GB HBM3", "bf16-mixed"), ("Tesla T4", "16-mixed")])
@pytest.mark.parametrize("trainer", ["gpu", "ddp"])
def test_gpu_trainers_resolve_the_cards_precision_and_log_it(gpu, caplog, name, expected, trainer):
    gpu(name)
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        assert _trainer_precision([f"trainer={trainer}"]) == expected
        assert _trainer_precision([f"trainer={trainer}"]) == expected
    lines = [r.getMessage() for r in caplog.records if r.name == precision.__name__]
    assert len(lines) == 1, lines  # chosen once per process, however often the config is resolved
    assert lines[0].startswith(f"precision {expected}: {name} has compute capability {CARDS[name][0][0]}.")
    assert ("gradient scaler" in lines[0]) == (expected == "16-mixed")


def test_fp16_gets_a_gradient_scaler_and_bf16_none(gpu):
    # Lightning's plugin for each choice, as the Trainer builds it for a CUDA device.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GradScaler warns that this test machine has no CUDA
        gpu("Tesla T4")
        fp16 = MixedPrecision(precision.choose_precision(), device="cuda")
        gpu("NVIDIA H100 80GB HBM3")
        bf16 = MixedPrecision(precision.choose_precision(), device="cuda")
    assert isinstance(fp16.scaler, torch.amp.GradScaler) and fp16.precision == "16-mixed"
    assert bf16.scaler is None and bf16.precision == "bf16-mixed"


@pytest.mark.parametrize("trainer", ["gpu", "ddp"])
def test_explicit_precision_overrides_the_choice(gpu, trainer):
    gpu("Tesla T4")
    assert _trainer_precision([f"trainer={trainer}", "trainer.precision=32-true"]) == "32-true"
    assert _trainer_precision([f"trainer={trainer}", "trainer.precision=bf16-mixed"]) == "bf16-mixed"


def test_without_cuda_the_configs_keep_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    precision.choose_precision.cache_clear()
    try:
        assert _trainer_precision(["trainer=gpu"]) == "bf16-mixed"
    finally:
        precision.choose_precision.cache_clear()


def test_resolver_passes_a_named_precision_through():
    assert precision.resolve_precision("16-mixed") == "16-mixed"
    assert OmegaConf.create({"p": "${colorization.precision:32-true}"}).p == "32-true"
