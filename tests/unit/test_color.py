"""Colour conversions against OpenCV (bit-exact) and the float encoding the networks see."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colorization.color import (
    AB_SCALE,
    lab8_to_normalized,
    lab8_to_rgb,
    normalized_to_lab8,
    render_normalized,
    rgb_to_lab8,
)

cv2 = pytest.importorskip("cv2")


def _random_colours(n: int, seed: int) -> np.ndarray:
    """``n`` random uint8 triples as an image ``[n // 512, 512, 3]`` (HWC, as cv2 wants)."""
    return np.random.default_rng(seed).integers(0, 256, size=(n // 512, 512, 3), dtype=np.uint8)


def _chw(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def test_rgb_to_lab8_matches_opencv_on_random_colours():
    img = _random_colours(1 << 18, seed=1)
    ours = rgb_to_lab8(_chw(img))
    np.testing.assert_array_equal(ours, _chw(cv2.cvtColor(img, cv2.COLOR_RGB2LAB)))


def test_rgb_to_lab8_matches_opencv_on_dark_colours():
    # Dark colours are where OpenCV's integer tables differ most from the exact CIE formulas (up to 3 levels);
    # this cube contains the one cube-root table entry whose rounding OpenCV's soft float breaks the other way.
    v = np.arange(0, 128, dtype=np.uint8)
    cube = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(-1, 512, 3)
    np.testing.assert_array_equal(rgb_to_lab8(_chw(cube)), _chw(cv2.cvtColor(cube, cv2.COLOR_RGB2LAB)))
    assert (rgb_to_lab8(_chw(np.array([[[0, 98, 254]]], np.uint8)))[:, 0, 0] == [119, 165, 45]).all()


def test_lab8_to_rgb_matches_opencv_on_random_lab_bytes():
    lab = _random_colours(1 << 18, seed=2)  # every byte triple is a valid input, most are out of gamut
    np.testing.assert_array_equal(lab8_to_rgb(_chw(lab)), _chw(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)))


def test_both_directions_match_opencv_on_real_photos(real_photos):
    for name, rgb in real_photos.items():
        lab_ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
        np.testing.assert_array_equal(rgb_to_lab8(_chw(rgb)), _chw(lab_ref), err_msg=name)
        np.testing.assert_array_equal(lab8_to_rgb(_chw(lab_ref)), _chw(cv2.cvtColor(lab_ref, cv2.COLOR_LAB2RGB)),
                                      err_msg=name)


def test_tensor_in_tensor_out_with_batch_dims(real_crops):
    rgb = torch.from_numpy(real_crops).permute(0, 3, 1, 2).reshape(4, 4, 3, 64, 64)  # two leading dims
    lab = rgb_to_lab8(rgb)
    assert isinstance(lab, torch.Tensor) and lab.dtype == torch.uint8 and lab.shape == rgb.shape
    ref = cv2.cvtColor(real_crops[5], cv2.COLOR_RGB2LAB)
    np.testing.assert_array_equal(lab[1, 1].numpy(), _chw(ref))
    back = lab8_to_rgb(lab)
    assert isinstance(back, torch.Tensor) and back.shape == rgb.shape
    # LAB8 quantisation loses a little: the round trip stays within a few levels on real photos.
    assert (back.int() - rgb.int()).abs().float().mean() < 1.5


def test_wrong_inputs_are_refused():
    with pytest.raises(TypeError, match="uint8"):
        rgb_to_lab8(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, H, W\]"):
        lab8_to_rgb(torch.zeros(4, 4, 4, dtype=torch.uint8))


def test_normalised_round_trip_is_exact(real_crops):
    lab8 = rgb_to_lab8(torch.from_numpy(real_crops).permute(0, 3, 1, 2))
    L, ab = lab8_to_normalized(lab8)
    assert L.shape == (16, 1, 64, 64) and ab.shape == (16, 2, 64, 64)
    assert L.dtype == ab.dtype == torch.float32
    assert L.min() >= -1.0 and L.max() <= 1.0
    assert ab.abs().max() <= 128.0 / AB_SCALE
    torch.testing.assert_close(L[:, 0], lab8[:, 0].float() / 127.5 - 1.0)
    torch.testing.assert_close(ab, (lab8[:, 1:].float() - 128.0) / 128.0)
    assert torch.equal(normalized_to_lab8(L, ab), lab8)


def test_normalisation_does_not_modify_a_float_input():
    x = torch.full((1, 3, 2, 2), 200.0)
    L, ab = lab8_to_normalized(x)
    assert torch.all(x == 200.0)
    assert torch.allclose(L, torch.full_like(L, 200 / 127.5 - 1)) and torch.allclose(ab, torch.full_like(ab, 0.5625))


def test_normalized_to_rgb_range_shape_and_agreement(real_crops):
    rgb8 = torch.from_numpy(real_crops).permute(0, 3, 1, 2)
    lab8 = rgb_to_lab8(rgb8)
    rgb = render_normalized(*lab8_to_normalized(lab8), dtype=torch.float32)
    assert rgb.shape == (16, 3, 64, 64) and rgb.dtype == torch.float32
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    # The rendering agrees with OpenCV's integer decoding to within a few levels, except where 8-bit LAB
    # rounding pushed a colour just outside the gamut: there it keeps the lightness instead of clipping.
    diff = (rgb * 255 - lab8_to_rgb(lab8).float()).abs()
    assert (diff > 3.0).float().mean() < 0.005 and diff.mean() < 0.6
    # An out-of-range prediction is clipped, not propagated.
    wild = render_normalized(torch.full((1, 1, 2, 2), 3.0), torch.full((1, 2, 2, 2), -5.0), dtype=torch.float32)
    assert wild.min() >= 0.0 and wild.max() <= 1.0
