"""Inference from a checkpoint without Lightning: same colours as the module, a fraction of the imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from colorization.inference.checkpoint import load_trained, split_model_config
from colorization.losses.rebalance import estimate_ab_prior
from colorization.training.module import ColorizationModule

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}


@pytest.fixture(scope="module", params=["l1", "ce"])
def ckpt(request, tmp_path_factory):
    torch.manual_seed(0)
    m = ColorizationModule(model={"name": "unet", "encoder": "resnet18", "decoder_channels": [32, 16, 8, 8, 8],
                                  "width": 8, "compile": False, "channels_last": False},
                           loss={"name": request.param}, optimizer=ADAM)
    if m.loss_fn.needs_prior:
        m.loss_fn.set_prior(estimate_ab_prior(torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)))
    path = tmp_path_factory.mktemp("ckpt") / f"{request.param}.ckpt"
    torch.save({"state_dict": m.state_dict(), "hyper_parameters": dict(m.hparams)}, path)
    return path, m.eval()


def test_same_colours_as_the_module(ckpt):
    path, module = ckpt
    trained = load_trained(path)
    L = torch.rand(2, 1, 40, 56) * 2 - 1
    torch.testing.assert_close(trained.colorize_normalized(L), module.colorize_normalized(L))


def test_loading_a_colorizer_imports_neither_lightning_nor_hydra(ckpt):
    code = ("import sys; from colorization.inference.colorizer import load_colorizer; "
            f"load_colorizer({str(ckpt[0])!r}); print('lightning' in sys.modules, 'hydra' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False", "False"]


def test_split_model_config():
    name, run, kw = split_model_config({"name": "unet", "width": 8, "compile": True, "encoder": "resnet18"})
    assert (name, run, kw) == ("unet", {"compile": True, "width": 8}, {"encoder": "resnet18"})


def test_missing_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trained(tmp_path / "nope.ckpt")
