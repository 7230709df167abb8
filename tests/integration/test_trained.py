"""The one checkpoint loader: same colours as the training module, old checkpoints too, no Lightning or Hydra."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from colorization.inference.checkpoint import load_trained
from colorization.io.checkpoints import CHECKPOINT_FORMAT_VERSION
from colorization.losses.rebalance import estimate_ab_prior
from colorization.models.config import model_from_config
from colorization.training.module import ColorizationModule

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
UNET = {"name": "unet", "encoder": "resnet18", "decoder_channels": [32, 16, 8, 8, 8]}


@pytest.fixture(scope="module", params=["l1", "ce"])
def ckpt(request, tmp_path_factory):
    torch.manual_seed(0)
    m = ColorizationModule(model=UNET, loss={"name": request.param}, optimizer=ADAM)
    if m.loss_fn.needs_prior:
        m.loss_fn.set_prior(estimate_ab_prior(torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)))
    path = tmp_path_factory.mktemp("ckpt") / f"{request.param}.ckpt"
    torch.save({"state_dict": m.state_dict(), "hyper_parameters": dict(m.hparams),
                "format_version": CHECKPOINT_FORMAT_VERSION}, path)
    return path, m.eval()


def test_same_colours_as_the_module(ckpt):
    path, module = ckpt
    trained = load_trained(path)
    L = torch.rand(2, 1, 40, 54) * 2 - 1  # 54: not a multiple of the ce head's stride
    ab = trained.colorize_normalized(L)
    assert ab.shape == (2, 2, 40, 54)  # full size, whatever the head's stride
    torch.testing.assert_close(ab, module.colorize_normalized(L))
    assert trained.hparams["model"] == UNET
    # The stride travels with the loss: the same network comes back (ce: Zhang's quarter resolution).
    stride = 4 if module.hparams.loss["name"] == "ce" else 1
    assert trained.net.output_stride == trained.loss_fn.output_stride == stride
    assert list(trained.net.state_dict()) == list(module.net.state_dict())


# One fresh interpreter is enough: loading a ce checkpoint imports everything an l1 one does, and more.
@pytest.mark.parametrize("ckpt", ["ce"], indirect=True)
def test_loading_a_colorizer_imports_neither_lightning_nor_hydra(ckpt):
    code = ("import sys; from colorization.inference.colorizer import load_colorizer; "
            f"load_colorizer({str(ckpt[0])!r}); print('lightning' in sys.modules, 'hydra' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False", "False"]


def _net_state(model: dict, out_channels: int = 2) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    net = model_from_config(model, out_channels).eval()
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([0.3, -0.2]))  # visible colour, so a wrong load cannot pass
    return net, {f"net.{k}": v for k, v in net.state_dict().items()}


# ---------------------------------------------------------------------------------------------- errors
def test_missing_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trained(tmp_path / "nope.ckpt")


def test_a_file_that_is_not_a_checkpoint_is_one_clear_error(tmp_path):
    path = tmp_path / "photo.ckpt"
    path.write_bytes(b"\x89PNG not a checkpoint")
    with pytest.raises(ValueError, match=r"photo\.ckpt is not a PyTorch checkpoint"):
        load_trained(path)
    other = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match=r"weights\.pt is not a train\.py checkpoint"):
        load_trained(other)


def test_weights_that_do_not_fit_are_one_clear_error(tmp_path):
    _, state = _net_state({"name": "vanilla", "widths": [8, 16, 32, 64]})
    path = tmp_path / "mismatch.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"model": {"name": "vanilla", "widths": [8, 16, 32, 32]},
                                                          "loss": {"name": "l1"}},
                "format_version": CHECKPOINT_FORMAT_VERSION}, path)
    with pytest.raises(ValueError, match=r"mismatch\.ckpt: its net weights do not fit"):
        load_trained(path)
