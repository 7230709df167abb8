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


def test_render_normalized_range_shape_and_agreement_with_opencv(real_crops):
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


def test_cie_formulas_are_each_others_inverse_and_match_the_textbook():
    from colorization.color.cie import (
        EPS,
        lab_f_,
        lab_f_inverse_,
        lightness_of_y_,
        linear_to_srgb,
        srgb_to_linear,
    )

    x = torch.linspace(0, 1, 10001, dtype=torch.float64)
    torch.testing.assert_close(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12, rtol=0)
    # Continuous at the breakpoints (no jump between the linear toe and the power curve).
    for t in (0.04045, 0.0031308):
        near = torch.tensor([t - 1e-9, t + 1e-9], dtype=torch.float64)
        assert (srgb_to_linear(near).diff().abs() < 1e-8).all() and (linear_to_srgb(near).diff().abs() < 1e-6).all()
    # The branch-free f equals the two-branch CIE definition, and f^-1 undoes it.
    textbook = torch.where(x > EPS**3, x.pow(1 / 3), x / (3 * EPS**2) + 4 / 29)
    torch.testing.assert_close(lab_f_(x.clone()), textbook, atol=1e-12, rtol=0)
    torch.testing.assert_close(lab_f_inverse_(lab_f_(x.clone())), x, atol=1e-12, rtol=0)
    lightness = lightness_of_y_(torch.tensor([0.0, 0.18, 1.0], dtype=torch.float64))
    torch.testing.assert_close(lightness, torch.tensor([0.0, 49.496, 100.0], dtype=torch.float64), atol=1e-3, rtol=0)


def test_encoding_functions_are_inverse_pairs_with_stated_ranges():
    from colorization.color import (
        ab8_to_ab,
        ab_to_normalized,
        lab8_to_lab,
        lightness_to_normalized,
        normalized_to_ab,
        normalized_to_lab,
        normalized_to_lightness,
    )

    lightness = torch.linspace(0, 100, 101)
    torch.testing.assert_close(normalized_to_lightness(lightness_to_normalized(lightness)), lightness)
    assert lightness_to_normalized(torch.tensor([-5.0, 150.0])).tolist() == [-1.0, 1.0]  # clamped to [-1, 1]
    ab_star = torch.arange(-128.0, 128.0)
    torch.testing.assert_close(normalized_to_ab(ab_to_normalized(ab_star)), ab_star)
    assert torch.equal(ab8_to_ab(torch.arange(256, dtype=torch.uint8)), ab_star)
    # Normalised floats and bytes describe one LAB: both paths to L*a*b* floats agree.
    lab8 = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    torch.testing.assert_close(normalized_to_lab(*lab8_to_normalized(lab8)), lab8_to_lab(lab8), atol=1e-4, rtol=0)
    # normalized_to_lab clamps to what 8-bit LAB can hold; normalized_to_ab only scales.
    wild = normalized_to_lab(torch.full((1, 1, 1, 1), 2.0), torch.full((1, 2, 1, 1), -3.0))
    assert wild.flatten().tolist() == [100.0, -128.0, -128.0]
    assert normalized_to_ab(torch.tensor([1.5])).item() == 192.0


def test_rendering_keeps_lightness_and_uint8_matches_float():
    from colorization.color import lab_to_srgb, lightness_from_srgb_float, render_normalized

    g = torch.Generator().manual_seed(0)
    L = torch.rand(4, 1, 16, 16, generator=g) * 2 - 1
    ab = (torch.rand(4, 2, 16, 16, generator=g) * 2 - 1) * 1.2  # many colours outside the sRGB gamut
    as_float = render_normalized(L, ab, dtype=torch.float32)
    as_uint8 = render_normalized(L, ab)
    assert as_uint8.dtype == torch.uint8 and as_uint8.shape == (4, 3, 16, 16)
    assert (as_float * 255 - as_uint8.float()).abs().max() <= 0.51  # the same picture, up to 8-bit rounding
    # Gamut mapping moves colours towards the gray of the same luminance, so L* survives rendering.
    torch.testing.assert_close(lightness_from_srgb_float(as_float), (L + 1) * 50, atol=2e-3, rtol=0)
    # render_normalized is lab_to_srgb on the decoded floats, nothing else.
    assert torch.equal(as_uint8, lab_to_srgb((L + 1) * 50, ab * 128))
