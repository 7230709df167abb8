"""ColorizationModule: every model pairs with every loss, and a small batch of real photos is learnable."""

from __future__ import annotations

import pytest
import torch

from colorization.color import rgb_to_lab8
from colorization.data.augment import prepare_batch
from colorization.losses.rebalance import estimate_ab_prior
from colorization.metrics import ColorizationMetrics
from colorization.training.module import ColorizationModule

TINY_MODELS = {
    "vanilla": {"name": "vanilla", "widths": [8, 16, 32, 64]},
    "resnet": {"name": "resnet", "encoder": "resnet18", "decoder_channels": [64, 32, 16, 8, 8]},
    "unet": {"name": "unet", "encoder": "resnet18", "decoder_channels": [64, 32, 16, 8, 8]},
}
LOSSES = ["l1", "mse", "huber", "ce"]
ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 3e-3}


@pytest.fixture(scope="module")
def lab8(real_crops):
    rgb = torch.from_numpy(real_crops).permute(0, 3, 1, 2).contiguous()
    return rgb_to_lab8(rgb)[:8, :, :32, :32].contiguous()  # [8,3,32,32] uint8


def _module(model: str, loss: str, lab8: torch.Tensor) -> ColorizationModule:
    torch.manual_seed(0)
    m = ColorizationModule(model=TINY_MODELS[model], loss={"name": loss}, optimizer=ADAM)
    if m.loss_fn.needs_prior:
        m.loss_fn.set_prior(estimate_ab_prior(lab8))
    return m


def _train(m: ColorizationModule, batch, steps: int) -> list[float]:
    opt = m.configure_optimizers()
    m.train()
    losses = []
    for _ in range(steps):
        loss, _ = m._step(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("model", list(TINY_MODELS))
def test_every_model_and_loss_trains(model, loss, lab8):
    m = _module(model, loss, lab8)
    batch = prepare_batch(lab8)
    out = m(batch[0])
    side = 32 // m.loss_fn.output_stride  # ce: Zhang's quarter resolution; regression: full size
    assert m.loss_fn.output_stride == (4 if loss == "ce" else 1)
    assert out.shape == (8, m.loss_fn.out_channels, side, side)
    assert m.loss_fn.decode(out).shape == (8, 2, side, side)
    assert m.colorize_normalized(batch[0]).shape == (8, 2, 32, 32)
    losses = _train(m, batch, 8)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert min(losses[-3:]) < losses[0], f"{model} x {loss}: {losses}"


def test_overfitting_real_crops_beats_the_gray_baseline(lab8):
    # Measured: after 150 steps the vanilla net reaches ~+6 dB over gray on these 8 crops (gray ~21 dB);
    # the margin asserted leaves room for platform noise.
    m = _module("vanilla", "l1", lab8)
    batch = prepare_batch(lab8)
    _train(m, batch, 150)
    m.eval()
    metrics = ColorizationMetrics()
    metrics.update(batch[0], m.colorize_normalized(batch[0]), batch[1])
    values = metrics.compute()
    assert values["psnr"] > values["psnr_gray"] + 3.0, values
    assert values["auc"] > values["auc_gray"], values


def test_predict_step_gives_rgb_uint8_with_the_true_lightness(lab8):
    m = _module("vanilla", "l1", lab8).eval()
    rgb = m.predict_step(prepare_batch(lab8), 0)  # (L, ab) floats, as the datamodule's transfer makes them
    assert rgb.dtype == torch.uint8 and rgb.shape == (8, 3, 32, 32)
    L_back = rgb_to_lab8(rgb)[:, 0].int()
    assert (L_back - lab8[:, 0].int()).abs().float().mean() < 1.5


@pytest.mark.parametrize("model", ["vanilla", "unet"])
def test_a_quarter_resolution_head_gives_full_size_ab_everywhere(model, lab8):
    # 30x26: not a multiple of the stride. Metrics, pictures and predict_step all see ab at L's full size,
    # upsampled from the head's grid; the loss compares on that grid.
    m = _module(model, "ce", lab8).eval()
    L_, ab = (t[..., :30, :26] for t in prepare_batch(lab8))
    pred = m(L_)
    assert pred.shape == (8, 313, 8, 7)
    full = m.colorize_normalized(L_)
    assert full.shape == (8, 2, 30, 26) and full.abs().max() <= 1.0
    upsampled = torch.nn.functional.interpolate(m.loss_fn.decode(pred), scale_factor=4.0, mode="bilinear")
    torch.testing.assert_close(full, upsampled[..., :30, :26])
    rgb = m.predict_step((L_, ab), 0)
    assert rgb.shape == (8, 3, 30, 26) and rgb.dtype == torch.uint8
    m.validation_step((L_, ab), 0)
    reference = ColorizationMetrics()
    reference.update(L_, full, ab)
    assert m.val_metrics.compute()["psnr"] == pytest.approx(float(reference.compute()["psnr"]), rel=1e-6)
    assert float(m._step((L_, ab))[0]) == pytest.approx(float(m.loss_fn(pred, ab)), rel=1e-6)


def test_checkpoint_holds_each_weight_once(lab8, tmp_path):
    m = _module("vanilla", "l1", lab8)
    keys = list(m.state_dict())
    assert keys and not any(k.startswith("_forward_net") for k in keys)


def _float_loader(lab8: torch.Tensor, batch_size: int = 4):
    """A DataLoader of ``(L, ab)`` float pairs, as the datamodule's ``on_after_batch_transfer`` hands them over."""
    from torch.utils.data import DataLoader

    L_, ab = prepare_batch(lab8, pool=None)
    return DataLoader(list(zip(L_, ab, strict=True)), batch_size=batch_size)


def _fit(m: ColorizationModule, lab8: torch.Tensor, **trainer_kw):
    import lightning as L

    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, **trainer_kw)
    trainer.fit(m, train_dataloaders=_float_loader(lab8))
    return trainer


def _conv_weights(m: ColorizationModule) -> list[torch.Tensor]:
    return [p for p in m.net.parameters() if p.ndim == 4 and p.shape[1] > 1 and p.shape[2] > 1]


def test_bf16_mixed_channels_last_and_compile_train_under_the_trainer(lab8):
    torch.manual_seed(0)
    # inductor needs minutes of C++ compilation on a CPU; "eager" runs the same torch.compile path
    m = ColorizationModule(model=TINY_MODELS["unet"], loss={"name": "l1"}, optimizer=ADAM, channels_last=True,
                           compile={"enabled": True, "backend": "eager"})
    assert m._forward_net is not m.net  # compiled wrapper in front of the same weights
    assert m.hparams.compile == {"enabled": True, "backend": "eager", "mode": None}
    before = [p.detach().clone() for p in m.net.parameters()]
    trainer = _fit(m, lab8, precision="bf16-mixed")
    assert trainer.global_step == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, m.net.parameters(), strict=True))
    assert torch.isfinite(trainer.callback_metrics["train/loss_step"])
    assert all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in _conv_weights(m))


def test_channels_last_auto_is_off_on_the_cpu(lab8):
    torch.manual_seed(0)
    m = ColorizationModule(model=TINY_MODELS["vanilla"], loss={"name": "l1"}, optimizer=ADAM)
    assert m.hparams.channels_last == "auto" and m._forward_net is m.net  # the defaults: auto, no compile
    seen = []
    m.net.register_forward_pre_hook(lambda _, args: seen.append(args[0].is_contiguous()))
    _fit(m, lab8)
    assert m._use_channels_last is False and seen and all(seen)
    assert all(w.is_contiguous() for w in _conv_weights(m))
    assert m._wants_channels_last(torch.device("cuda")) and not m._wants_channels_last(torch.device("cpu"))
    with pytest.raises(ValueError, match="channels_last must be true, false or auto"):
        ColorizationModule(model=TINY_MODELS["vanilla"], loss={"name": "l1"}, channels_last="yes")


def test_run_options_are_not_model_hyper_parameters(lab8):
    m = ColorizationModule(model=TINY_MODELS["vanilla"], loss={"name": "l1"}, optimizer=ADAM)
    assert m._forward_net is m.net and m.channels_last == "auto"
    assert set(m.hparams) == {"model", "loss", "optimizer", "scheduler", "scheduler_interval",
                              "freeze_encoder_epochs", "encoder_lr_mult", "compile", "channels_last"}
    # The head's stride is stored with the loss, so the checkpoint loader rebuilds the same network.
    assert m.hparams.loss == {"name": "l1", "output_stride": 1} and isinstance(m.hparams.model, dict)
    ce = ColorizationModule(model=TINY_MODELS["vanilla"], loss={"name": "ce", "k": 3}, optimizer=ADAM)
    assert ce.hparams.loss == {"name": "ce", "k": 3, "output_stride": 4} and ce.net.output_stride == 4
    assert not hasattr(ColorizationModule, "unpack")  # batches are always (L, ab) from the datamodule


# ---------------------------------------------------------------------------------------------- sample grid
@pytest.mark.parametrize("loss", ["l1", "ce"])
def test_sample_grid_shows_the_fixed_val_images_as_colorize_sees_them(loss, real_crops, tmp_path):
    import lightning as L
    import numpy as np
    from PIL import Image

    from colorization.color import render_normalized
    from colorization.data import ColorizationDataModule, write_kaggle_layout
    from colorization.training.callbacks import SampleGridCallback

    crops = rgb_to_lab8(torch.from_numpy(real_crops[:, :32, :32].copy()).permute(0, 3, 1, 2)).numpy()
    dm = ColorizationDataModule(source="kaggle", root=write_kaggle_layout(tmp_path / "kaggle", crops, (6, 5, 5)),
                                image_size=32, batch_size=4, num_workers=0, val_fraction=0.25, test_fraction=0.125,
                                seed=1)
    grid = SampleGridCallback(num_images=3, out_dir=str(tmp_path / "samples"))
    torch.manual_seed(0)
    m = ColorizationModule(model=TINY_MODELS["vanilla"], loss={"name": loss}, optimizer=ADAM)
    trainer = L.Trainer(accelerator="cpu", max_epochs=2, limit_train_batches=1, limit_val_batches=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[grid])
    trainer.fit(m, datamodule=dm)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_000.png", "epoch_001.png"]
    png = np.asarray(Image.open(grid.last_path))
    assert png.shape == (3 * 32 + 2 * 2, 3 * 32, 3)  # three rows of gray | prediction | truth, 2 px gaps

    lab8 = dm.fixed_images(3)
    assert torch.equal(lab8, dm.datasets["val"].get_batch([0, 2, 3]))  # spread over the 4 val images
    L_, ab = dm.on_after_batch_transfer(lab8, 0)
    m.eval()
    # Nothing trains after the last validation: these weights made epoch_001.png.
    panels = [render_normalized(L_, torch.zeros_like(ab)), render_normalized(L_, m.colorize_normalized(L_)),
              render_normalized(L_, ab)]
    for i in range(3):
        row = png[i * 34 : i * 34 + 32]
        for j, panel in enumerate(panels):
            assert np.array_equal(row[:, j * 32 : (j + 1) * 32], panel[i].permute(1, 2, 0).numpy()), (i, j)


def test_wandb_gets_the_grid_the_test_table_and_its_run_closed(tmp_path, monkeypatch):
    import sys
    from types import SimpleNamespace

    import numpy as np
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    from colorization.integrations.wandb import finish_wandb_run, log_sample_images, log_test_table

    class _Recorder(WandbLogger):
        def __init__(self) -> None:  # no W&B run: only what the project hands to the logger is recorded
            self.calls: list[tuple[str, dict]] = []

        def log_image(self, **kw) -> None:
            self.calls.append(("image", kw))

        def log_table(self, **kw) -> None:
            self.calls.append(("table", kw))

    rec = _Recorder()
    trainer = SimpleNamespace(loggers=[CSVLogger(tmp_path), rec], global_step=7)
    rows = [np.zeros((4, 12, 3), np.uint8), np.ones((4, 12, 3), np.uint8)]
    log_sample_images(trainer, rows, epoch=3)
    log_test_table(trainer, {"test/psnr": 25.0, "test/psnr_gray": 20.0, "test/ssim": 0.9})
    (kind, image), (_, table) = rec.calls
    assert kind == "image" and image["key"] == "val/samples" and image["step"] == 7 and image["images"] == rows
    assert image["caption"] == [f"val image {i}: gray | prediction | truth (epoch 3)" for i in range(2)]
    assert table["key"] == "test/metrics" and table["columns"] == ["metric", "model", "gray baseline"]
    assert table["data"] == [["test/psnr", 25.0, 20.0], ["test/ssim", 0.9, None]]

    finished = []
    fake = SimpleNamespace(run=object(), finish=lambda exit_code: finished.append(exit_code))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    finish_wandb_run()
    assert finished == [0]
    monkeypatch.setattr(fake, "finish", lambda exit_code: (_ for _ in ()).throw(RuntimeError("net down")))
    finish_wandb_run()  # a logging hiccup never masks the job's own result


# ------------------------------------------------------------------------------------------------ host syncs
class _HostReads:
    """Counts ``Tensor.item()`` calls (each one waits for the device) by who made them: the optimizer's own
    (Adam's step counter, a CPU tensor) apart from everything else."""

    def __init__(self, monkeypatch) -> None:
        import sys

        self.optimizer = self.other = self.in_step = 0
        self.counting = self.stepping = False
        original = torch.Tensor.item

        def item(tensor):
            if self.counting:
                caller = sys._getframe(1).f_code.co_filename
                if "torch/optim" in caller:
                    self.optimizer += 1
                else:
                    self.other += 1
                    self.in_step += self.stepping
            return original(tensor)

        monkeypatch.setattr(torch.Tensor, "item", item)


def test_a_training_step_reads_nothing_back_to_the_host(real_crops, tmp_path, monkeypatch):
    """With the default progress bar (Rich) and a CSV logger, a training step makes ~0.2 ``item()`` calls outside
    the optimizer: the logger's read every ``log_every_n_steps`` (5) and nothing per step (issue 23)."""
    import lightning as L
    from lightning.pytorch.callbacks import RichProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from colorization.data import ColorizationDataModule, write_kaggle_layout

    rgb = torch.from_numpy(real_crops).permute(0, 3, 1, 2)
    quarters = torch.cat([rgb[:, :, y:y + 32, x:x + 32] for y in (0, 32) for x in (0, 32)]).contiguous()
    dm = ColorizationDataModule(source="kaggle", root=write_kaggle_layout(tmp_path / "kaggle", rgb_to_lab8(quarters)),
                                image_size=32, batch_size=2, num_workers=0, val_fraction=0.125, test_fraction=0.125)
    reads = _HostReads(monkeypatch)

    class Window(L.Callback):  # first in the list: its hooks run before the progress bar's
        def on_train_start(self, *_):
            reads.counting = True

        def on_train_epoch_end(self, *_):
            reads.counting = False

    m = _module("vanilla", "l1", None)
    step = m.training_step

    def watched_step(*args):
        reads.stepping = True
        try:
            return step(*args)
        finally:
            reads.stepping = False

    m.training_step = watched_step
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_val_batches=0, num_sanity_val_steps=0,
                        logger=CSVLogger(tmp_path / "csv"), log_every_n_steps=5, enable_checkpointing=False,
                        callbacks=[Window(), RichProgressBar()])
    trainer.fit(m, datamodule=dm)
    steps = trainer.global_step
    assert steps == 24
    assert reads.in_step == 0
    assert reads.optimizer >= steps  # the counter works: Adam reads its CPU step counter every step
    # 4 logger reads (steps 5, 10, 15, 20) + 1 DataLoader seed per epoch; main 34bb835 made 2.5 per step.
    assert reads.other / steps <= 0.21, reads.other
