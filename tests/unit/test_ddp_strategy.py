"""JobDDPStrategy's two questions to the module: does a backward leave parameters without gradients (search for
them), and is the network compiled (keep plain BatchNorm)? Answered on the CPU with a stubbed DDP."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.plugins.layer_sync import TorchSyncBatchNorm
from lightning.pytorch.strategies import DDPStrategy

from colorization.distributed import JobDDPStrategy
from colorization.training.gan_module import GANModule
from colorization.training.module import ColorizationModule

VANILLA = {"name": "vanilla", "widths": [8, 16, 32]}
ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}


def _strategy(module: torch.nn.Module, **kw) -> JobDDPStrategy:
    strategy = JobDDPStrategy(process_group_backend="gloo", **kw)
    strategy._lightning_module = module
    return strategy


@pytest.mark.parametrize("make, search", [
    (lambda: ColorizationModule(model=VANILLA, loss={"name": "l1"}, optimizer=ADAM), False),
    (lambda: ColorizationModule(model=VANILLA, loss={"name": "l1"}, optimizer=ADAM, freeze_encoder_epochs=2), True),
    (lambda: GANModule(model=VANILLA, loss={"name": "l1"}, optimizer=ADAM,
                       gan={"discriminator": {"base_channels": 8}}), True),
])
def test_find_unused_parameters_only_where_a_backward_leaves_some_out(make, search, monkeypatch):
    seen = {}
    monkeypatch.setattr(DDPStrategy, "_setup_model", lambda self, model: seen.update(self._ddp_kwargs) or model)
    module = make()
    assert module.needs_unused_parameter_search is search
    _strategy(module, find_unused_parameters=False)._setup_model(module)
    assert seen["find_unused_parameters"] is search


@pytest.mark.parametrize("compiled", [False, True])
def test_a_compiled_module_keeps_plain_batchnorm(compiled, monkeypatch, caplog):
    applied = []
    monkeypatch.setattr(DDPStrategy, "setup", lambda self, trainer: applied.append(self._layer_sync))
    module = ColorizationModule(model=VANILLA, loss={"name": "l1"}, optimizer=ADAM,
                                compile={"enabled": compiled, "backend": "eager"})
    assert module.compiled is compiled
    strategy = _strategy(module)
    strategy._layer_sync = TorchSyncBatchNorm()
    with caplog.at_level(logging.WARNING, logger="colorization.distributed.strategy"):
        strategy.setup(SimpleNamespace())
    assert (applied[0] is None) is compiled
    warned = [r.getMessage() for r in caplog.records]
    assert warned == (["trainer.sync_batchnorm=true ignored: module.compile.enabled=true keeps plain BatchNorm "
                       "(SyncBatchNorm would break the compiled graph at every BatchNorm layer)"] if compiled else [])
