"""Encoders and their weights: timm hub offline behaviour, local files, classifier folding, the EfficientNet package."""

from __future__ import annotations

import socket
import time

import pytest
import timm
import torch
from safetensors.torch import save_file

from colorization.models import (
    EFFICIENTNET_LITE0_PACKAGE,
    WeightsUnavailableError,
    create_model,
    fold_input_conv,
    load_efficientnet_lite0_package_state_dict,
    model_from_config,
)
from tests.support.small_models import SMALL, TINY_ENCODER, one_thread, small  # noqa: F401 - fixture


def test_offline_pretrained_fails_fast_with_one_sentence(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as err:
        create_model("unet", 2, encoder="resnet10t", pretrained=True)
    assert time.perf_counter() - t0 < 5
    message = str(err.value)
    for way_out in ("model.pretrained=false", "model.weights=PATH", "model=unet_efficientnet_lite0_imagenet"):
        assert way_out in message
    assert message.count(". ") == 0 and "\n" not in message  # one sentence


def test_pretrained_weights_load_offline_from_the_hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants
    from safetensors.torch import load_file

    from tests.support.hf_cache import write_timm_weights

    hub_id = write_timm_weights(tmp_path, "resnet10t")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads HF_HOME once, at import; point its cache at the one this test wrote.
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    t0 = time.perf_counter()
    net = create_model("resnet", 2, encoder="resnet10t", pretrained=True, decoder_channels=(16, 8))
    assert time.perf_counter() - t0 < 10
    assert hub_id == "timm/resnet10t.c3_in1k" and net.encoder_weights == f"imagenet:{hub_id}"
    cached = load_file(str(next((tmp_path / "hub").rglob("model.safetensors"))))
    torch.testing.assert_close(net.encoder.state_dict()["layer1.0.conv1.weight"], cached["layer1.0.conv1.weight"])
    # The RGB stem was folded to the L channel, as for every pretrained encoder here.
    stem = net.encoder.state_dict()["conv1.0.weight"]
    assert stem.shape[1] == 1 and torch.allclose(stem[:, 0], cached["conv1.0.weight"].sum(1), atol=1e-5)


def test_every_encoder_says_what_it_started_from(tmp_path):
    assert small("vanilla").encoder_weights == "scratch"
    assert small("resnet").encoder_weights == "scratch"
    path = tmp_path / "enc.safetensors"
    save_file(timm.create_model("resnet10t", features_only=True, in_chans=1).state_dict(), str(path))
    assert small("unet", weights=str(path)).encoder_weights == f"file:{path.resolve()}"


@pytest.fixture
def silent_server():
    """A local TCP port that accepts connections and never answers: the hub 'hangs'."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.mark.parametrize("hub", ["refused", "silent"])
def test_unreachable_hub_fails_fast_without_offline_flag(monkeypatch, silent_server, hub):
    # No HF_HUB_OFFLINE: a closed port (refused at once) or a hub that hangs (bounded by hub_timeout_s).
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9" if hub == "refused" else silent_server)
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="unreachable|did not answer within 0.5 s") as err:
        create_model("resnet", 2, encoder="resnet10t", pretrained=True, hub_timeout_s=0.5)
    assert time.perf_counter() - t0 < 3
    assert "model.weights=PATH" in str(err.value)


def test_named_weights_replace_the_default_pretrained_ones(tmp_path):
    # model=resnet|unet default to pretrained=true; model.weights=PATH alone must be enough to start from a file.
    path = tmp_path / "enc.safetensors"
    torch.manual_seed(1)
    save_file(timm.create_model("resnet10t", features_only=True, in_chans=1).state_dict(), str(path))
    net = create_model("unet", 2, pretrained=True, weights=str(path), **TINY_ENCODER)  # no hub needed offline
    assert net.encoder_weights == f"file:{path.resolve()}"


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_path_round_trip(tmp_path, suffix):
    source = create_model("unet", 2, **TINY_ENCODER)
    with torch.no_grad():  # non-default BN statistics, so buffers are proven to load too
        for name, buf in source.encoder.named_buffers():
            if "running" in name:
                buf.uniform_(0.5, 1.5)
    state = source.encoder.state_dict()
    path = tmp_path / f"encoder{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)

    torch.manual_seed(123)
    loaded = create_model("resnet", 313, weights=str(path), **TINY_ENCODER)
    torch.manual_seed(123)
    fresh = create_model("resnet", 313, **TINY_ENCODER)
    for k, v in loaded.encoder.state_dict().items():
        assert torch.equal(v, state[k]), k
    convs = [k for k, v in state.items() if v.ndim == 4]
    assert convs and all(not torch.equal(fresh.encoder.state_dict()[k], state[k]) for k in convs)


def test_weights_from_a_lightning_style_checkpoint(tmp_path):
    source = create_model("unet", 2, **TINY_ENCODER)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in source.state_dict().items()}, "epoch": 3}, path)
    loaded = create_model("unet", 2, weights=str(path), **TINY_ENCODER)
    assert all(torch.equal(v, source.encoder.state_dict()[k]) for k, v in loaded.encoder.state_dict().items())


def test_classifier_state_dict_is_folded_and_its_head_dropped(tmp_path):
    classifier = timm.create_model("resnet10t", num_classes=7)  # RGB stem, deep (nested) first conv
    path = tmp_path / "resnet10t_classifier.pth"
    torch.save(classifier.state_dict(), path)
    model = create_model("unet", 2, weights=str(path), **TINY_ENCODER)
    rgb_kernel = classifier.state_dict()["conv1.0.weight"]
    assert rgb_kernel.shape[1] == 3
    assert torch.equal(model.encoder.state_dict()["conv1.0.weight"], rgb_kernel.sum(dim=1, keepdim=True))
    assert torch.equal(
        model.encoder.state_dict()["layer4.0.conv1.weight"], classifier.state_dict()["layer4.0.conv1.weight"]
    )


def test_mismatched_or_missing_weights_are_clear_errors(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", num_classes=0).state_dict(), path)
    with pytest.raises(ValueError, match=r"do not fit encoder 'resnet10t': missing \d+ encoder tensors: conv1\.0"):
        create_model("unet", 2, weights=str(path), **TINY_ENCODER)
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        create_model("unet", 2, weights=str(tmp_path / "nope.pth"), **TINY_ENCODER)


def test_fold_input_conv_sums_rgb_and_answers_gray_images_alike():
    torch.manual_seed(0)
    rgb = torch.randn(8, 3, 3, 3)
    folded = fold_input_conv(rgb)
    assert torch.equal(folded, rgb[:, 0:1] + rgb[:, 1:2] + rgb[:, 2:3])
    gray = torch.rand(2, 1, 16, 16)
    expected = torch.nn.functional.conv2d(gray.expand(-1, 3, -1, -1), rgb)
    torch.testing.assert_close(torch.nn.functional.conv2d(gray, folded), expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def lite0_package_state() -> dict[str, torch.Tensor]:
    return load_efficientnet_lite0_package_state_dict()


def test_efficientnet_package_maps_onto_timm_and_classifies_chelsea_as_a_cat(lite0_package_state):
    from PIL import Image
    from skimage.data import chelsea

    assert len(lite0_package_state) == 296
    model = timm.create_model("tf_efficientnet_lite0", num_classes=1000).eval()
    model.load_state_dict(lite0_package_state, strict=True)
    config = timm.data.resolve_data_config({}, model=model)  # resize 224 (bicubic, crop 0.875), mean=std=0.5
    x = timm.data.create_transform(**config)(Image.fromarray(chelsea()))[None]
    with torch.no_grad():
        top = model(x).softmax(-1)[0].topk(3)
    assert 281 <= top.indices[0].item() <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert top.values.sum() > 0.5  # the top 3 are cats with most of the mass, not a lucky argmax


def test_efficientnet_package_weights_reach_the_encoder_folded(lite0_package_state):
    kw = dict(encoder="tf_efficientnet_lite0", decoder_channels=(16, 8))
    model = create_model("unet", 2, weights=EFFICIENTNET_LITE0_PACKAGE, **kw)
    fresh = create_model("unet", 2, **kw)
    enc = model.encoder.state_dict()
    stem = lite0_package_state["conv_stem.weight"]
    assert torch.equal(enc["conv_stem.weight"], stem.sum(dim=1, keepdim=True))
    for key in ("blocks.6.0.conv_pwl.weight", "bn1.running_var", "blocks.3.1.bn2.running_mean"):
        assert torch.equal(enc[key], lite0_package_state[key])
        assert not torch.equal(fresh.encoder.state_dict()[key], enc[key])
    with pytest.raises(ValueError, match="model.encoder=tf_efficientnet_lite0"):
        create_model("unet", 2, weights=EFFICIENTNET_LITE0_PACKAGE, **TINY_ENCODER)


@pytest.mark.parametrize("option", ["resnet", "unet"])
def test_the_seed_models_start_from_imagenet_weights_by_default(option, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants
    from hydra import compose, initialize_config_dir

    import colorization.config  # noqa: F401 - the resolvers the model configs use
    from tests.support.entry_points import REPO

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        model_cfg = compose("train", overrides=[f"model={option}"]).model
    assert model_cfg.pretrained is True and model_cfg.encoder == "resnet34"
    # The tests' HF cache holds timm/resnet34.a1_in1k (conftest's hub_cache): found offline.
    assert model_from_config(model_cfg, 2).encoder_weights == "imagenet:timm/resnet34.a1_in1k"
    # Offline with nothing cached: one sentence within seconds, naming the ways out.
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="model.pretrained=false"):
        model_from_config(model_cfg, 2)
    assert time.perf_counter() - t0 < 5
