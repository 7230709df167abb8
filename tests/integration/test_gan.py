"""``loss=gan``: the 70x70 PatchGAN, pix2pix's losses, and manual-optimization training in the module."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from colorization.color import rgb_to_lab8
from colorization.losses import GANLoss, create_loss
from colorization.training.discriminator import PatchDiscriminator, patchgan_receptive_field
from colorization.training.module import ColorizationModule

TINY_MODELS = {
    "vanilla": {"name": "vanilla", "widths": [8, 16, 32, 64]},
    "resnet": {"name": "resnet", "encoder": "resnet18", "decoder_channels": [32, 16, 8, 8, 8]},
    "unet": {"name": "unet", "encoder": "resnet18", "decoder_channels": [32, 16, 8, 8, 8]},
}
TINY_D = {"base_channels": 8, "n_layers": 3, "norm": "batch"}
GAN_KEYS = ("train/loss", "train/g_adv", "train/g_l1", "train/d_loss", "train/d_real", "train/d_fake")


def _loader(real_crops, n: int = 8, size: int = 32, batch_size: int = 4) -> DataLoader:
    """Bare uint8 LAB batches ``[B,3,size,size]`` of real photo crops (the module normalises them)."""
    rgb = torch.from_numpy(real_crops[:n, :size, :size]).permute(0, 3, 1, 2).contiguous()
    return DataLoader(list(rgb_to_lab8(rgb)), batch_size=batch_size, shuffle=False)


def _module(model: dict, scheduler: dict | None = None, **loss_kw) -> ColorizationModule:
    loss = {"name": "gan", "discriminator": TINY_D, **loss_kw}
    optimizer = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-4, "betas": [0.5, 0.999]}
    return ColorizationModule(model=model, loss=loss, optimizer=optimizer, scheduler=scheduler)


def _trainer(tmp_path, max_epochs: int = 1, batches: int = 2, **kw) -> L.Trainer:
    kw.setdefault("enable_checkpointing", False)
    return L.Trainer(max_epochs=max_epochs, limit_train_batches=batches, limit_val_batches=0, logger=False,
                     enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                     default_root_dir=tmp_path, **kw)


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> float:
    """Fraction of parameter tensors that differ from ``before``."""
    after = dict(module.named_parameters())
    return sum(not torch.equal(before[k], after[k]) for k in before) / len(before)


# ------------------------------------------------------------------------------------------ discriminator
def test_patchgan_is_pix2pix_70x70():
    d = PatchDiscriminator()
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert all(c.kernel_size == (4, 4) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 3  # none on the first / last
    assert patchgan_receptive_field(3) == d.receptive_field == 70
    assert patchgan_receptive_field(1) == 16 and patchgan_receptive_field(5) == 286


def test_patchgan_receptive_field_measured():
    """The input window that reaches one central patch logit, measured by its gradient, is 70x70."""
    d = PatchDiscriminator(base_channels=4, norm="none")  # a norm would couple every position
    x = torch.randn(1, 3, 160, 160, requires_grad=True)
    out = d(x)
    assert out.shape == (1, 1, 160 // 8 - 2, 160 // 8 - 2)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)) > 0).flatten()
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2)) > 0).flatten()
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


# ------------------------------------------------------------------------------------------ loss
def test_gan_loss_parts():
    torch.manual_seed(0)
    gan = create_loss("gan", discriminator=TINY_D)
    assert isinstance(gan, GANLoss) and gan.out_channels == 2 and gan.is_gan and gan.lambda_l1 == 100.0
    L_ = torch.rand(2, 1, 32, 32) * 2 - 1
    ab, pred = torch.rand(2, 2, 32, 32) - 0.5, torch.randn(2, 2, 32, 32, requires_grad=True)
    assert torch.allclose(gan(pred, ab), F.l1_loss(pred, ab))  # val/loss: the plain L1
    assert torch.equal(gan.decode(torch.full((1, 2, 4, 4), 3.0)), torch.ones(1, 2, 4, 4))
    g = gan.generator_loss(L_, pred, ab)
    assert torch.allclose(g["loss"], g["adv"] + 100.0 * g["l1"])
    g["loss"].backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    d = gan.discriminator_loss(L_, pred, ab)
    assert math.isfinite(d["loss"].item()) and 0 <= d["real"] <= 1 and 0 <= d["fake"] <= 1
    lsgan = create_loss("gan", gan_mode="lsgan", discriminator=TINY_D)
    assert math.isfinite(lsgan.discriminator_loss(L_, pred, ab)["loss"].item())
    with pytest.raises(ValueError, match="gan_mode"):
        create_loss("gan", gan_mode="wgan")


# ------------------------------------------------------------------------------------------ training
def test_gan_step_updates_both_networks(real_crops, tmp_path):
    torch.manual_seed(0)
    module = _module(TINY_MODELS["vanilla"])
    assert module.automatic_optimization is False
    g0, d0 = _params(module.net), _params(module.loss_fn.discriminator)
    trainer = _trainer(tmp_path)
    trainer.fit(module, train_dataloaders=_loader(real_crops))
    assert _changed(g0, module.net) > 0.9 and _changed(d0, module.loss_fn.discriminator) > 0.9
    metrics = trainer.callback_metrics
    for key in GAN_KEYS:
        assert math.isfinite(float(metrics[key])), key
    assert 0 <= float(metrics["train/d_real"]) <= 1 and 0 <= float(metrics["train/d_fake"]) <= 1
    # The generator's optimizer never holds a discriminator parameter, and the other way round.
    opt_g, opt_d = trainer.optimizers
    g_ids = {id(p) for group in opt_g.param_groups for p in group["params"]}
    d_ids = {id(p) for group in opt_d.param_groups for p in group["params"]}
    assert d_ids == {id(p) for p in module.loss_fn.discriminator.parameters()} and not g_ids & d_ids
    assert g_ids == {id(p) for p in module.net.parameters()}
    assert opt_d.param_groups[0]["lr"] == 2e-4 and opt_d.param_groups[0]["betas"] == (0.5, 0.999)
    # Two batches, one step each per optimizer.
    assert all(s["step"].item() == 2 for s in opt_d.state.values())


@pytest.mark.parametrize("name", ["vanilla", "resnet", "unet"])
def test_gan_composes_with_every_generator(name, real_crops, tmp_path):
    torch.manual_seed(0)
    module = _module(TINY_MODELS[name])
    g0, d0 = _params(module.net), _params(module.loss_fn.discriminator)
    trainer = _trainer(tmp_path, batches=1)
    trainer.fit(module, train_dataloaders=_loader(real_crops, n=4))
    assert _changed(g0, module.net) > 0.5 and _changed(d0, module.loss_fn.discriminator) > 0.9
    assert all(math.isfinite(float(trainer.callback_metrics[k])) for k in GAN_KEYS)


def test_gan_checkpoint_resume_and_schedulers(real_crops, tmp_path):
    """Both optimizers and schedulers are saved and restored; schedulers step once per epoch; D is in the ckpt."""
    torch.manual_seed(0)
    scheduler = {"_target_": "torch.optim.lr_scheduler.StepLR", "_partial_": True, "step_size": 1, "gamma": 0.5}
    module = _module(TINY_MODELS["vanilla"], scheduler=scheduler, gradient_clip_val=1.0)
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(module, train_dataloaders=_loader(real_crops))
    ckpt_path = tmp_path / "gan.ckpt"
    trainer.save_checkpoint(ckpt_path)
    ckpt = torch.load(ckpt_path, weights_only=False)
    assert len(ckpt["optimizer_states"]) == 2 and len(ckpt["lr_schedulers"]) == 2
    assert any(k.startswith("loss_fn.discriminator.") for k in ckpt["state_dict"])
    assert [s["last_epoch"] for s in ckpt["lr_schedulers"]] == [1, 1]

    resumed = _module(TINY_MODELS["vanilla"], scheduler=scheduler, gradient_clip_val=1.0)
    trainer2 = _trainer(tmp_path, max_epochs=2)
    trainer2.fit(resumed, train_dataloaders=_loader(real_crops), ckpt_path=ckpt_path)
    opt_g, opt_d = trainer2.optimizers
    # Adam's step counters continue from the checkpoint (2 batches per epoch, 2 epochs), lrs halved twice.
    assert all(s["step"].item() == 4 for s in opt_d.state.values())
    assert all(s["step"].item() == 4 for s in opt_g.state.values())
    assert opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 / 4)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(2e-4 / 4)
