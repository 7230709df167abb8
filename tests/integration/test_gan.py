"""``module=gan``: the 70x70 PatchGAN, pix2pix's losses, and its own manual-optimisation module."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.plugins import MixedPrecision
from omegaconf import OmegaConf, open_dict

import colorization.config  # noqa: F401 - registers the resolvers the configs use
from colorization.color import rgb_to_lab8
from colorization.data.augment import prepare_batch
from colorization.losses import L1Loss, list_losses
from colorization.training.adversarial import adversarial_loss, realness
from colorization.training.discriminator import PatchDiscriminator, patchgan_receptive_field
from colorization.training.gan_module import GANModule, gan_settings
from colorization.training.module import ColorizationModule

REPO = Path(__file__).resolve().parents[2]
TINY_MODELS = {
    "vanilla": {"name": "vanilla", "widths": [8, 16, 32, 64]},
    "resnet": {"name": "resnet", "encoder": "resnet18", "decoder_channels": [32, 16, 8, 8, 8]},
    "unet": {"name": "unet", "encoder": "resnet18", "decoder_channels": [32, 16, 8, 8, 8]},
}
TINY_D = {"base_channels": 8, "n_layers": 3, "norm": "batch"}
GAN_KEYS = ("train/loss", "train/g_adv", "train/g_l1", "train/d_loss", "train/d_real", "train/d_fake")
ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-4, "betas": [0.5, 0.999]}


class _Batches:
    """``(L, ab)`` float batches of real photo crops, as the datamodule's ``on_after_batch_transfer`` makes them
    (an iterable, not a list: Lightning would read a list as several dataloaders)."""

    def __init__(self, real_crops, n: int = 8, size: int = 32, batch_size: int = 4) -> None:
        rgb = torch.from_numpy(real_crops[:n, :size, :size]).permute(0, 3, 1, 2).contiguous()
        self.batches = [prepare_batch(b, pool=None) for b in rgb_to_lab8(rgb).split(batch_size)]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def _module(model: dict, scheduler: dict | None = None, **gan_kw) -> GANModule:
    return GANModule(model=model, loss={"name": "l1"}, optimizer=ADAM, scheduler=scheduler,
                     gan={"discriminator": TINY_D, **gan_kw})


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


# ------------------------------------------------------------------------------------------ loss terms
def test_adversarial_terms():
    logits = torch.tensor([[[[0.0, 2.0]]]])
    assert adversarial_loss(logits, 1.0, "vanilla") == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)).item())
    assert adversarial_loss(logits, 0.9, "lsgan") == pytest.approx(((0.9 - 0.0) ** 2 + (2.0 - 0.9) ** 2) / 2)
    assert realness(logits, "vanilla") == pytest.approx((0.5 + torch.sigmoid(torch.tensor(2.0)).item()) / 2)
    assert realness(logits, "lsgan") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="gan_mode"):
        adversarial_loss(logits, 1.0, "wgan")


def test_gan_loss_parts():
    torch.manual_seed(0)
    gan = _module(TINY_MODELS["vanilla"])
    assert isinstance(gan.loss_fn, L1Loss) and gan.loss_fn.out_channels == 2 and gan.gan["lambda_l1"] == 100.0
    L_ = torch.rand(2, 1, 32, 32) * 2 - 1
    ab, pred = torch.rand(2, 2, 32, 32) - 0.5, torch.randn(2, 2, 32, 32, requires_grad=True)
    assert torch.allclose(gan.loss_fn(pred, ab), F.l1_loss(pred, ab))  # val/loss: the plain L1
    assert torch.equal(gan.loss_fn.decode(torch.full((1, 2, 4, 4), 3.0)), torch.ones(1, 2, 4, 4))
    g = gan.generator_loss(L_, pred, ab)
    assert torch.allclose(g["loss"], g["adv"] + 100.0 * g["l1"])
    g["loss"].backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    d = gan.discriminator_loss(L_, pred, ab)
    assert math.isfinite(d["loss"].item()) and 0 <= d["real"] <= 1 and 0 <= d["fake"] <= 1
    lsgan = _module(TINY_MODELS["vanilla"], gan_mode="lsgan")
    assert math.isfinite(lsgan.discriminator_loss(L_, pred, ab)["loss"].item())
    with pytest.raises(ValueError, match="gan_mode"):
        _module(TINY_MODELS["vanilla"], gan_mode="wgan")
    with pytest.raises(ValueError, match="unknown module.gan settings"):
        _module(TINY_MODELS["vanilla"], lamda_l1=3.0)
    with pytest.raises(ValueError, match="predicts ab"):
        GANModule(model=TINY_MODELS["vanilla"], loss={"name": "ce"}, optimizer=ADAM)
    assert "gan" not in list_losses()  # the GAN is a training algorithm now, not a loss


# ------------------------------------------------------------------------------------------ training
class _StepOrder(L.Callback):
    """Which network each optimizer step updates, and the gradient norms of D and G at that moment."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.grads: list[tuple[float, float]] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        d_ids = {id(p) for p in pl_module.discriminator.parameters()}
        self.order.append("D" if id(optimizer.param_groups[0]["params"][0]) in d_ids else "G")
        self.grads.append(tuple(sum(float(p.grad.abs().sum()) for p in part.parameters() if p.grad is not None)
                                for part in (pl_module.discriminator, pl_module.net)))


def test_gan_step_trains_d_then_g(real_crops, tmp_path):
    torch.manual_seed(0)
    module = _module(TINY_MODELS["vanilla"])
    assert module.automatic_optimization is False
    g0, d0 = _params(module.net), _params(module.discriminator)
    steps = _StepOrder()
    trainer = _trainer(tmp_path, callbacks=[steps])
    trainer.fit(module, train_dataloaders=_Batches(real_crops))
    assert _changed(g0, module.net) > 0.9 and _changed(d0, module.discriminator) > 0.9
    # Per batch: D's step, then G's. D's backward leaves G without gradients (first batch), and G's backward
    # adds nothing to D's (toggle_optimizer): D's gradients at G's step are those of D's own step.
    assert steps.order == ["D", "G"] * 2, steps.order
    (d1, g1), (d2, g2), (d3, _), (d4, _) = steps.grads
    assert d1 > 0 and g1 == 0 and g2 > 0 and d2 == d1 and d4 == d3
    metrics = trainer.callback_metrics
    for key in GAN_KEYS:
        assert math.isfinite(float(metrics[key])), key
    assert 0 <= float(metrics["train/d_real"]) <= 1 and 0 <= float(metrics["train/d_fake"]) <= 1
    # The generator's optimizer never holds a discriminator parameter, and the other way round.
    opt_g, opt_d = trainer.optimizers
    g_ids = {id(p) for group in opt_g.param_groups for p in group["params"]}
    d_ids = {id(p) for group in opt_d.param_groups for p in group["params"]}
    assert d_ids == {id(p) for p in module.discriminator.parameters()} and not g_ids & d_ids
    assert g_ids == {id(p) for p in module.net.parameters()}
    assert opt_d.param_groups[0]["lr"] == 2e-4 and opt_d.param_groups[0]["betas"] == (0.5, 0.999)
    # Two batches, one step each per optimizer.
    assert all(s["step"].item() == 2 for s in opt_d.state.values())


@pytest.mark.parametrize("name", ["vanilla", "resnet", "unet"])
def test_gan_composes_with_every_generator(name, real_crops, tmp_path):
    torch.manual_seed(0)
    module = _module(TINY_MODELS[name])
    g0, d0 = _params(module.net), _params(module.discriminator)
    trainer = _trainer(tmp_path, batches=1)
    trainer.fit(module, train_dataloaders=_Batches(real_crops, n=4))
    assert _changed(g0, module.net) > 0.5 and _changed(d0, module.discriminator) > 0.9
    assert all(math.isfinite(float(trainer.callback_metrics[k])) for k in GAN_KEYS)


def test_gan_checkpoint_resume_and_schedulers(real_crops, tmp_path):
    """Both optimizers and schedulers are saved and restored; schedulers step once per epoch; D is in the ckpt
    under ``discriminator.``."""
    torch.manual_seed(0)
    scheduler = {"_target_": "torch.optim.lr_scheduler.StepLR", "_partial_": True, "step_size": 1, "gamma": 0.5}
    module = _module(TINY_MODELS["vanilla"], scheduler=scheduler, gradient_clip_val=1.0)
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(module, train_dataloaders=_Batches(real_crops))
    ckpt_path = tmp_path / "gan.ckpt"
    trainer.save_checkpoint(ckpt_path)
    ckpt = torch.load(ckpt_path, weights_only=True)
    assert len(ckpt["optimizer_states"]) == 2 and len(ckpt["lr_schedulers"]) == 2
    assert any(k.startswith("discriminator.") for k in ckpt["state_dict"])
    assert {k.split(".")[0] for k in ckpt["state_dict"]} <= {"net", "loss_fn", "discriminator", "val_loss",
                                                             "val_metrics", "test_metrics", "val_best"}
    assert ckpt["hyper_parameters"]["loss"] == {"name": "l1", "output_stride": 1}
    assert ckpt["hyper_parameters"]["gan"]["gradient_clip_val"] == 1.0
    assert [s["last_epoch"] for s in ckpt["lr_schedulers"]] == [1, 1]
    for path in (ckpt_path,):
        resumed = _module(TINY_MODELS["vanilla"], scheduler=scheduler, gradient_clip_val=1.0)
        trainer2 = _trainer(tmp_path, max_epochs=2)
        trainer2.fit(resumed, train_dataloaders=_Batches(real_crops), ckpt_path=path)
        opt_g, opt_d = trainer2.optimizers
        # Adam's step counters continue from the checkpoint (2 batches per epoch, 2 epochs), lrs halved twice.
        assert all(s["step"].item() == 4 for s in opt_d.state.values())
        assert all(s["step"].item() == 4 for s in opt_g.state.values())
        assert opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 / 4)
        assert opt_d.param_groups[0]["lr"] == pytest.approx(2e-4 / 4)

    loaded = GANModule.load_from_checkpoint(ckpt_path, weights_only=True)
    assert loaded.hparams.loss == {"name": "l1", "output_stride": 1} and loaded.gan["gradient_clip_val"] == 1.0
    for k, v in module.discriminator.state_dict().items():
        assert torch.equal(loaded.discriminator.state_dict()[k], v), k


# ------------------------------------------------------------------------------------------ config
def _compose(overrides: list[str], run_dir: Path):
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.runtime.cwd = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_module_gan_composes_to_the_gan_module(tmp_path):
    import hydra

    via_module = OmegaConf.to_container(_compose(["module=gan", "loss=l1", "module.gan.lambda_l1=10"], tmp_path),
                                        resolve=True)
    assert via_module["module"]["_target_"] == "colorization.training.gan_module.GANModule"
    assert via_module["module"]["loss"] == {"name": "l1"} and via_module["module"]["gan"]["lambda_l1"] == 10
    assert via_module["module"]["channels_last"] == "auto"
    default = OmegaConf.to_container(_compose([], tmp_path), resolve=True)["module"]
    assert default["_target_"] == "colorization.training.module.ColorizationModule" and "gan" not in default
    assert {k: v for k, v in via_module["module"].items() if k not in ("_target_", "gan")} == {
        k: v for k, v in default.items() if k != "_target_"}  # the GAN module shares every other setting
    cfg = _compose(["module=gan", "model=vanilla", "model.width=8"], tmp_path)
    module = hydra.utils.instantiate(cfg.module)
    assert type(module) is GANModule and isinstance(module.loss_fn, L1Loss)
    assert module.gan == gan_settings({"name": "l1"}, OmegaConf.to_container(cfg.module.gan))[1]
    assert type(hydra.utils.instantiate(_compose(["model=vanilla", "model.width=8"], tmp_path).module)) is (
        ColorizationModule)
    with pytest.raises(Exception, match="loss"):  # one way to say it: module=gan (loss=gan is no config)
        _compose(["loss=gan"], tmp_path)


def test_gan_run_resumes_from_last_ckpt(tmp_path):
    """``train(cfg)`` with ``module=gan`` twice in one run dir: the second (``ckpt_path=last``) continues the first."""
    from colorization.inference.checkpoint import load_trained
    from colorization.train import train

    run_dir = tmp_path / "run"
    tiny = ["module=gan", "model=vanilla", "model.width=8", "data.image_size=32", "data.batch_size=8",
            "data.sample.crops_per_photo=4", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
            "trainer.accelerator=cpu", "logger=none", "test=false", "++callbacks.rich_progress_bar=null",
            "++callbacks.rich_model_summary=null", "callbacks.sample_grid.num_images=2",
            "module.gan.discriminator.base_channels=8", f"paths.data_dir={tmp_path / 'data'}", "ckpt_path=last"]
    first = train(_compose([*tiny, "trainer.max_epochs=1"], run_dir))
    ckpt = torch.load(first["last_ckpt"], weights_only=False)
    assert ckpt["epoch"] == 0 and ckpt["global_step"] == 4  # 2 batches x (D step + G step)
    second = train(_compose([*tiny, "trainer.max_epochs=2"], run_dir))
    ckpt = torch.load(second["last_ckpt"], weights_only=False)
    assert second["epochs"] == 2 and ckpt["epoch"] == 1 and ckpt["global_step"] == 8  # continued, not restarted
    assert ckpt["hyper_parameters"]["loss"] == {"name": "l1", "output_stride": 1} and "gan" in ckpt["hyper_parameters"]
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == ["epoch_000.png", "epoch_001.png"]
    # The one checkpoint loader needs only net. + loss_fn. and the plain model / loss hyper-parameters.
    colorizer = load_trained(second["last_ckpt"])
    assert colorizer(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)


@pytest.mark.parametrize("precision", ["16-mixed", "32-true"])
def test_gradients_are_clipped_after_unscaling(precision, real_crops, tmp_path, monkeypatch):
    """``module.gan.gradient_clip_val`` under ``16-mixed`` clips the unscaled gradients: for each optimizer step
    the scaler unscales first, then the norm is clipped, then the step runs; and the clipped norm is the limit."""
    events: list[str] = []
    norms: list[float] = []
    unscale = torch.amp.GradScaler.unscale_
    monkeypatch.setattr(torch.amp.GradScaler, "unscale_", lambda self, opt: (events.append("unscale"),
                                                                              unscale(self, opt))[1])
    clip = GANModule.clip_gradients

    def clipping(self, optimizer, **kw):
        events.append("clip")
        clip(self, optimizer, **kw)
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    monkeypatch.setattr(GANModule, "clip_gradients", clipping)
    module = _module(TINY_MODELS["vanilla"], gradient_clip_val=1e-3)
    original = torch.optim.Adam.step
    # The step's closure (Lightning's hooks, the clipping) runs inside Adam.step: note the step once it is done.
    monkeypatch.setattr(torch.optim.Adam, "step",
                        lambda self, *a, **k: (original(self, *a, **k), events.append("step"))[0])
    # On the CPU Lightning swaps 16-mixed for bf16-mixed; the plugin by hand keeps fp16 with its gradient scaler.
    plugin = ([MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))]
              if precision == "16-mixed" else [])
    _trainer(tmp_path, batches=2, plugins=plugin).fit(module, train_dataloaders=_Batches(real_crops, n=8))
    per_step = ["unscale", "clip"] if precision == "16-mixed" else ["clip"]
    # 2 batches x (D, G); the scaler skips a step whose gradients overflowed fp16, never one before its clipping.
    assert [e for e in events if e != "step"] == per_step * 4
    assert all(events[i - 1] == "clip" for i, e in enumerate(events) if e == "step") and "step" in events
    finite = [n for n in norms if math.isfinite(n)]  # fp16 overflow: inf/nan gradients, a skipped step
    assert finite and finite == pytest.approx([1e-3] * len(finite), rel=1e-3)  # clipped to the limit


def test_a_diverging_gan_stops_with_loss_diverged(real_crops, tmp_path):
    """The generator's or the discriminator's loss going non-finite stops the fit (checked at epoch end here)."""
    from colorization.errors import LossDivergedError

    module = GANModule(model=TINY_MODELS["vanilla"], loss={"name": "l1"},
                       optimizer={**ADAM, "lr": 1e30}, gan={"discriminator": TINY_D, "d_lr": 1e30})
    with pytest.raises(LossDivergedError, match=r"the training loss diverged \(it was (nan|-?inf) at step \d+"):
        _trainer(tmp_path, max_epochs=3, batches=2).fit(module, train_dataloaders=_Batches(real_crops, n=8))
