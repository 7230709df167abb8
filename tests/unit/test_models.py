"""Model registry and names (old ones included), the models, transfer-learning weights and encoder freezing
(CPU, tiny sizes). Each model config composing and building is in test_config.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colorization.color import lab8_to_normalized, rgb_to_lab8
from colorization.errors import ConfigError
from colorization.models import (
    ColorizationNet,
    EncoderDecoder,
    UNet,
    create_model,
    list_models,
    model_from_config,
    set_encoder_frozen,
)
from colorization.models.blocks import SCSE, pad_to_multiple
from tests.support.small_models import SMALL, TINY_ENCODER, one_thread, small  # noqa: F401 - fixture


def test_registry_lists_models_and_rejects_unknown_names():
    assert list_models() == ["encoder_decoder", "resnet", "unet", "vanilla"]
    with pytest.raises(ValueError, match="Unknown model 'nope'; choose one of: encoder_decoder, resnet, unet, vanilla"):
        create_model("nope", 2)


def test_architectures_are_named_for_their_decoder_and_share_only_the_base():
    # As smp: the base owns forward; the U-Net is its own architecture, not a skipless network with skips on.
    assert not issubclass(UNet, EncoderDecoder) and not issubclass(EncoderDecoder, UNet)
    for name, cls in [("vanilla", ColorizationNet), ("encoder_decoder", EncoderDecoder), ("unet", UNet)]:
        model = small(name if name != "encoder_decoder" else "resnet")
        assert isinstance(model, cls) and isinstance(model, ColorizationNet)
        assert "forward" not in type(model).__dict__  # ColorizationNet.forward, for every architecture
    assert type(create_model("resnet", 2, **TINY_ENCODER)) is EncoderDecoder
    assert create_model("encoder_decoder", 2).encoder_name == create_model("resnet", 2).encoder_name == "resnet34"


def test_resnet_takes_a_resnet_encoder_and_says_which_name_builds_another():
    assert type(create_model("resnet", 2, **TINY_ENCODER)) is EncoderDecoder
    with pytest.raises(ConfigError, match=r"model.encoder=tf_efficientnet_lite0: model=resnet takes a ResNet encoder; "
                                          r"for this one use model=encoder_decoder"):
        create_model("resnet", 2, encoder="tf_efficientnet_lite0", pretrained=False)


@pytest.mark.parametrize("name", ["vanilla", "resnet", "unet"])
@pytest.mark.parametrize("out_channels", [2, 313])
def test_output_shape_at_input_resolution(name, out_channels):
    model = small(name, out_channels)
    y = model(torch.rand(2, 1, 64, 32) * 2 - 1)
    assert y.shape == (2, out_channels, 64, 32)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["vanilla", "resnet", "unet"])
@pytest.mark.parametrize("size", [(50, 70), (33, 17), (1, 97), (1, 1)])
def test_odd_sizes_are_padded_and_cropped_back(name, size):
    model = small(name).eval()
    x = torch.rand(1, 1, *size) * 2 - 1
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 2, *size)
    assert torch.isfinite(y).all()


# What each model builds for a head at a quarter resolution (Zhang et al.): no decoder layer finer than it.
QUARTER_DECODER_BLOCKS = {"vanilla": 1, "resnet": 3, "unet": 3}


@pytest.mark.parametrize("name", ["vanilla", "resnet", "unet"])
@pytest.mark.parametrize("size", [(64, 32), (50, 70), (33, 17), (1, 97), (1, 1)])
def test_output_stride_gives_the_head_grid_of_any_size(name, size):
    model = small(name, 313, output_stride=4).eval()
    assert (model.head_stride, model.output_stride) == (4, 4)
    assert len(model.decoder.blocks) == QUARTER_DECODER_BLOCKS[name]
    with torch.no_grad():
        y = model(torch.rand(1, 1, *size) * 2 - 1)
    assert y.shape == (1, 313, -(-size[0] // 4), -(-size[1] // 4))  # ceil: the last cell may hang over
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["vanilla", "unet"])
def test_the_output_grid_starts_at_the_top_left_pixel(name):
    # Cell (i, j) covers pixels [4i, 4i+4) x [4j, 4j+4) even when the size is not a multiple of 4: a 27x21 image
    # gives exactly the cells of itself extended to 28x24 by repeating its last row / column (padding after it).
    model = small(name, 2, output_stride=4).eval()
    image = torch.rand(1, 1, 27, 21) * 2 - 1
    extended = torch.nn.functional.pad(image, (0, 3, 0, 1), mode="replicate")
    with torch.no_grad():
        torch.testing.assert_close(model(image), model(extended), rtol=1e-5, atol=1e-5)
    # The padding to the encoder stride puts whole cells before the image (align), about evenly otherwise.
    assert pad_to_multiple(torch.zeros(1, 1, 20, 21), 32, align=4)[1] == (4, 4, 20, 21)
    assert pad_to_multiple(torch.zeros(1, 1, 20, 21), 32)[1] == (6, 5, 20, 21)


def test_vanilla_head_stride():
    # Vanilla's head runs at a quarter by default; its full-size output is the head upsampled (as ever).
    assert (small("vanilla").head_stride, small("vanilla").output_stride) == (4, 1)
    assert small("vanilla", head_stride=2).head_stride == 2
    with pytest.raises(ValueError, match="loss.output_stride"):
        model_from_config({"name": "unet", **TINY_ENCODER, "output_stride": 4}, out_channels=2)
    with pytest.raises(ValueError, match="power of two"):
        small("vanilla", output_stride=3)


def test_wrong_input_channels_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[B,1,H,W\]"):
        small("vanilla")(torch.zeros(1, 3, 32, 32))


@pytest.fixture(scope="module")
def crop_batch(real_crops) -> tuple[torch.Tensor, torch.Tensor]:
    """Four real 32x32 crops as (L [4,1,32,32] in [-1,1], ab [4,2,32,32] = ab*/128)."""
    rgb = torch.from_numpy(np.ascontiguousarray(real_crops[:4, :32, :32])).permute(0, 3, 1, 2)
    return lab8_to_normalized(rgb_to_lab8(rgb))


@pytest.mark.parametrize("name", ["vanilla", "resnet", "unet"])
def test_training_steps_reduce_a_regression_loss(name, crop_batch):
    L, ab = crop_batch
    model = small(name).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = torch.nn.functional.l1_loss(model(L), ab)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_unet_has_separate_parts_skips_and_scse():
    model = small("unet", attention="scse")
    assert {"encoder", "decoder", "head"} <= {n for n, _ in model.named_children()}
    assert any(isinstance(m, SCSE) for m in model.decoder.modules())
    # Skips at strides 16, 8, 4, 2 for a stride-32 encoder; the last block (full resolution) has none.
    assert model.decoder.skip_index == [3, 2, 1, 0, None]
    assert small("resnet").decoder.skip_index == [None] * 5
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 2, 32, 32)


def test_short_decoder_ends_early_and_upsamples_the_head():
    model = create_model("unet", 313, **TINY_ENCODER)
    assert (model.head_stride, model.output_stride) == (8, 1)
    assert model(torch.zeros(2, 1, 40, 24)).shape == (2, 313, 40, 24)
    quarter = create_model("unet", 313, output_stride=4, **TINY_ENCODER)  # same layers: head at 8, up to 4
    assert list(quarter.state_dict()) == list(model.state_dict())
    assert quarter(torch.zeros(2, 1, 40, 24)).shape == (2, 313, 10, 6)
    with pytest.raises(ValueError, match="decoder_channels has 6 entries"):
        create_model("unet", 2, encoder="resnet10t", decoder_channels=(8,) * 6)


@pytest.mark.parametrize("name", ["vanilla", "resnet", "unet"])
def test_encoder_and_decoder_parameters_partition_the_model(name):
    model = small(name)
    enc = {id(p) for p in model.encoder_parameters()}
    dec = {id(p) for p in model.decoder_parameters()}
    assert enc and dec and not enc & dec
    assert enc | dec == {id(p) for p in model.parameters()}
    assert {id(p) for p in model.head.parameters()} <= dec


def test_frozen_encoder_keeps_weights_and_bn_stats_through_a_train_step(crop_batch):
    L, ab = crop_batch
    model = small("unet")
    set_encoder_frozen(model, True)
    model.train()  # as Lightning does each epoch: the frozen encoder must stay in eval mode
    assert all(not p.requires_grad for p in model.encoder_parameters())
    assert all(p.requires_grad for p in model.decoder_parameters())
    assert not any(m.training for m in model.encoder.modules())
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    head_before = model.head.weight.detach().clone()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    torch.nn.functional.l1_loss(model(L), ab).backward()
    opt.step()
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and running_mean/var/num_batches
    assert not torch.equal(head_before, model.head.weight)

    set_encoder_frozen(model, False)
    model.train()
    assert all(p.requires_grad for p in model.encoder_parameters())
    assert all(m.training for m in model.encoder.modules())
