"""The one checkpoint loader: same colours as the training module, old checkpoints too, no Lightning or Hydra."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from colorization.inference.checkpoint import load_trained, translate_legacy_hparams
from colorization.losses import ClassificationLoss
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
    torch.save({"state_dict": m.state_dict(), "hyper_parameters": dict(m.hparams)}, path)
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


# ---------------------------------------------------------------------------------------------- old checkpoints
def _net_state(model: dict, out_channels: int = 2) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    net = model_from_config(model, out_channels).eval()
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([0.3, -0.2]))  # visible colour, so a wrong load cannot pass
    return net, {f"net.{k}": v for k, v in net.state_dict().items()}


def _discriminator_state(prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}model.0.weight": torch.randn(8, 3, 4, 4), f"{prefix}model.0.bias": torch.randn(8)}


def test_old_checkpoint_with_run_options_in_the_model_config_loads(tmp_path):
    """Checkpoints from before the run options moved out of the model config: compile*, channels_last, width."""
    model = {"name": "vanilla", "widths": [8, 16, 32, 64]}
    net, state = _net_state(model)
    old_model = {**model, "width": 8, "compile": True, "compile_backend": "inductor", "compile_mode": None,
                 "channels_last": True}
    state["val_metrics.total"] = torch.zeros(())  # training-only entries are ignored
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"model": old_model, "loss": {"name": "l1"},
                                                          "optimizer": ADAM}}, path)
    trained = load_trained(path)
    L = torch.rand(1, 1, 32, 32) * 2 - 1
    torch.testing.assert_close(trained(L), net(L).clamp(-1, 1))
    assert trained.hparams["model"] == {**model, "width": 8}  # run options gone, what the network is kept


@pytest.mark.parametrize("layout", ["old_gan_loss", "new_gan_module"])
def test_gan_checkpoints_load_as_an_l1_head(tmp_path, layout):
    """Old GAN runs: loss ``gan`` owning ``loss_fn.discriminator.*``; new ones: a registry loss, ``discriminator.*``."""
    model = {"name": "vanilla", "widths": [8, 16, 32, 64]}
    net, state = _net_state(model)
    if layout == "old_gan_loss":
        loss = {"name": "gan", "lambda_l1": 100.0, "gan_mode": "vanilla", "discriminator": {"n_layers": 2},
                "d_lr": 2e-4}
        state.update(_discriminator_state("loss_fn.discriminator."))
    else:
        loss = {"name": "l1"}
        state.update(_discriminator_state("discriminator."))
    path = tmp_path / f"{layout}.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"model": {**model, "compile": False}, "loss": loss}},
               path)
    trained = load_trained(path)
    assert trained.hparams["loss"] == {"name": "l1", "output_stride": 1}
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    want = net(L).clamp(-1, 1)
    assert want.abs().max() > 0.1
    torch.testing.assert_close(trained(L), want)


def test_translate_legacy_hparams_keeps_only_network_and_loss_state():
    hp = {"model": {"name": "unet", "compile": True, "channels_last": False, "encoder": "resnet18"},
          "loss": {"name": "gan", "lambda_l1": 10.0}}
    state = {"net.a": torch.zeros(1), "loss_fn.discriminator.w": torch.zeros(1), "val_best.psnr.x": torch.zeros(1)}
    new_hp, new_state = translate_legacy_hparams(hp, state)
    assert new_hp == {"model": {"name": "unet", "encoder": "resnet18"}, "loss": {"name": "l1", "output_stride": 1}}
    assert list(new_state) == ["net.a"]
    # A loss config without output_stride is from before it existed: a full-size head, whatever the loss.
    assert translate_legacy_hparams({"model": {}, "loss": {"name": "ce"}}, {})[0]["loss"]["output_stride"] == 1
    stored = {"name": "ce", "output_stride": 4}
    assert translate_legacy_hparams({"model": {}, "loss": stored}, {})[0]["loss"] == stored


@pytest.mark.parametrize("model", [UNET, {"name": "vanilla", "widths": [8, 16, 32, 64]}])
def test_a_ce_checkpoint_from_before_output_stride_keeps_its_full_size_head(model, tmp_path):
    """Before the classification head moved to a quarter resolution, a ce run's loss config had no stride."""
    torch.manual_seed(2)
    net = model_from_config(model, 313).eval()  # full-size output, as every network was built then
    prior = torch.rand(313)
    loss = ClassificationLoss(prior=prior, output_stride=1)
    state = {**{f"net.{k}": v for k, v in net.state_dict().items()},
             **{f"loss_fn.{k}": v for k, v in loss.state_dict().items()}}
    path = tmp_path / "old_ce.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"model": model, "loss": {"name": "ce", "k": 5}}}, path)
    trained = load_trained(path)
    assert trained.loss_fn.output_stride == 1 and trained.net.output_stride == 1
    assert trained.hparams["loss"] == {"name": "ce", "k": 5, "output_stride": 1}
    torch.testing.assert_close(trained.loss_fn.weights, loss.weights)
    L = torch.rand(1, 1, 36, 28) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(trained(L), loss.decode(net(L)))  # the same colours, at full size


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
                                                          "loss": {"name": "l1"}}}, path)
    with pytest.raises(ValueError, match=r"mismatch\.ckpt: its net weights do not fit"):
        load_trained(path)
