"""The ``colorize`` command and API: every input mode, full resolution, lightness kept, failures reported."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from colorization.cli import main
from colorization.color import (
    compose_srgb8,
    lab8_to_normalized,
    lab_to_srgb,
    lightness_from_srgb8,
    render_normalized,
    rgb_to_lab8,
)
from colorization.inference.checkpoint import load_trained, offline_model_hparams
from colorization.inference.colorizer import Colorizer, colorize, load_colorizer
from colorization.io.image_files import write_image
from tests.support.checkpoints import save_checkpoint, tiny_module

L_TOLERANCE = 2  # |L8(output) - L8(input)|: measured max 1 (8-bit rounding of the output's RGB)


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory) -> Path:
    """A tiny vanilla model whose head is biased towards strong colours, so gamut handling is exercised."""
    module = tiny_module("l1")
    with torch.no_grad():
        module.net.head.bias.copy_(torch.tensor([0.6, -0.5]))  # a* ~ +77, b* ~ -64: out of gamut when dark
    return save_checkpoint(module, tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


@pytest.fixture(scope="session")
def colorizer(ckpt) -> Colorizer:
    return load_colorizer(ckpt, device="cpu", size=32)


def l8(rgb: np.ndarray) -> np.ndarray:
    """OpenCV L8 of sRGB uint8 ``[H,W,3]`` -> ``[H,W]`` int."""
    return rgb_to_lab8(np.array(rgb.transpose(2, 0, 1)))[0].astype(int)  # a writable copy


def assert_same_lightness(out_rgb: np.ndarray, ref_rgb: np.ndarray) -> None:
    diff = np.abs(l8(out_rgb) - l8(ref_rgb))
    assert diff.max() <= L_TOLERANCE, f"lightness moved by up to {diff.max()} levels"


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- modes
def _mode_inputs(rgb: np.ndarray, folder: Path) -> dict[str, Path]:
    """One file per input mode, from a real photo crop of odd size."""
    img = Image.fromarray(rgb)
    h, w = rgb.shape[:2]
    alpha = Image.fromarray(np.tile(np.linspace(0, 255, w, dtype=np.uint8), (h, 1)))
    gray = img.convert("L")
    gray16 = (np.asarray(gray).astype(np.uint16) * 257 + 100).clip(0, 65535).astype(np.uint16)
    la, rgba = gray.copy(), img.copy()
    la.putalpha(alpha)
    rgba.putalpha(alpha)
    files = {
        "L": (gray, "gray8.png"),
        "I;16": (Image.fromarray(gray16), "gray16.png"),
        "LA": (la, "gray_alpha.png"),
        "RGB": (img, "photo.jpg"),
        "RGBA": (rgba, "photo_alpha.png"),
        "P": (img.quantize(64), "palette.png"),
        "CMYK": (img.convert("CMYK"), "cmyk.tif"),
        "1": (gray.convert("1"), "bilevel.png"),
    }
    paths = {}
    for mode, (image, name) in files.items():
        image.save(folder / name)
        paths[mode] = folder / name
    return paths


def _reference_rgb(path: Path) -> np.ndarray:
    """What the input looks like as sRGB uint8, decoded independently of the code under test."""
    with Image.open(path) as img:
        if img.mode.startswith("I;16"):
            g = np.round(np.asarray(img).astype(np.float64) / 257.0).astype(np.uint8)
            return np.repeat(g[..., None], 3, axis=2)
        return np.asarray(img.convert("RGB"))


def test_every_input_mode_full_size_and_lightness(ckpt, real_photos, tmp_path, capsys):
    rgb = real_photos["skimage_astronaut"][100:137, 150:195]  # 37 x 45, odd on purpose
    src = tmp_path / "in"
    src.mkdir()
    paths = _mode_inputs(rgb, src)
    for mode, path in paths.items():
        with Image.open(path) as img:
            assert img.mode == mode, f"test input for {mode} opened as {img.mode}"
    out = tmp_path / "out"
    code, err = run_cli([str(src), "--ckpt", str(ckpt), "--out", str(out), "--size", "32"], capsys)
    assert code == 0, err
    for mode, path in paths.items():
        result = out / path.name
        with Image.open(path) as before, Image.open(result) as after:
            assert after.format == before.format, mode  # JPEG stays JPEG, PNG PNG, TIFF TIFF
            assert after.size == before.size, mode
            has_alpha = mode in ("LA", "RGBA")
            assert after.mode == ("RGBA" if has_alpha else "RGB"), mode
            out_rgb = np.asarray(after.convert("RGB"))
            if has_alpha:
                alpha_in, alpha_out = np.asarray(before.getchannel("A")), np.asarray(after.getchannel("A"))
                np.testing.assert_array_equal(alpha_out, alpha_in)
        if mode == "RGB":  # JPEG: the output is re-encoded, so compare through the codec's own error
            assert np.abs(l8(out_rgb) - l8(_reference_rgb(path))).mean() < 1.5
        else:
            assert_same_lightness(out_rgb, _reference_rgb(path))
        if mode != "1":  # pure black and white have no colours
            assert np.ptp(out_rgb.astype(int), axis=2).max() > 20, f"{mode}: no colour was added"


def test_exif_orientation_is_applied(ckpt, colorizer, real_photos, tmp_path, capsys):
    rgb = real_photos["skimage_chelsea"][:24, :40]
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rotated.jpg"
    Image.fromarray(rgb).save(path, exif=exif.tobytes(), quality=95)
    upright = ImageOps.exif_transpose(Image.open(path))
    direct = colorize(Image.open(path), colorizer)
    assert direct.size == upright.size == (24, 40)  # width and height swapped
    np.testing.assert_array_equal(np.asarray(direct), np.asarray(colorize(upright, colorizer)))
    out = tmp_path / "out"
    code, err = run_cli([str(path), "--ckpt", str(ckpt), "--out", str(out), "--size", "32"], capsys)
    assert code == 0, err
    with Image.open(out / "rotated.jpg") as written:
        assert written.size == (24, 40)
        assert written.getexif().get(0x0112, 1) == 1  # not rotated a second time by viewers


@pytest.mark.parametrize("size", [(1, 1), (3, 1000), (401, 299)])
def test_odd_sizes_keep_size_and_lightness(colorizer, real_photos, size):
    h, w = size
    photo = real_photos["sklearn_china"]
    img = Image.fromarray(photo).resize((w, h), Image.BILINEAR).convert("L")
    out = colorize(img, colorizer)
    assert out.size == img.size and out.mode == "RGB"
    assert_same_lightness(np.asarray(out), np.asarray(img.convert("RGB")))


def test_lightness_kept_where_plain_clipping_would_move_it():
    """Out-of-gamut ab (very saturated, dark and bright pixels): L* survives, unlike with plain clipping."""
    lum = torch.linspace(0, 100, 64).repeat(8, 1)[None]  # [1,8,64]
    ab = torch.tensor([90.0, -100.0]).view(2, 1, 1).expand(2, 4, 4)
    rgb = compose_srgb8(lum, ab).numpy()
    back = lightness_from_srgb8(rgb)
    assert (back - lum).abs().max() < 0.5  # within one 8-bit level of L* (100/255)


def test_lab_to_srgb_float_and_uint8_agree():
    lum = torch.rand(1, 1, 16, 16) * 100
    ab = torch.randn(1, 2, 16, 16) * 30
    as_float = lab_to_srgb(lum, ab, dtype=torch.float32)
    as_uint8 = lab_to_srgb(lum, ab)
    assert (as_float * 255 - as_uint8.float()).abs().max() <= 0.51


# ---------------------------------------------------------------------------------------------- CLI
def test_corrupt_files_reported_others_written(ckpt, real_photos, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(real_photos["skimage_coffee"][:40, :48]).save(src / "good.png")
    (src / "garbage.jpg").write_bytes(b"this is not a jpeg at all")
    buf = io.BytesIO()
    Image.fromarray(real_photos["skimage_coffee"][:64, :64]).save(buf, format="PNG")
    (src / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    out = tmp_path / "out"
    code, err = run_cli([str(src), str(notes), str(tmp_path / "missing.png"), "--ckpt", str(ckpt),
                         "--out", str(out), "--size", "32"], capsys)
    assert code == 1
    for bad in ("garbage.jpg", "truncated.png", "notes.txt", "missing.png"):
        assert bad in err, err
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]  # no half-written or temporary files
    with Image.open(out / "good.png") as img:
        assert img.size == (48, 40)


def test_never_overwrites_inputs(ckpt, real_photos, tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    path = src / "a.png"
    Image.fromarray(real_photos["skimage_coffee"][:32, :32]).convert("L").save(path)
    before = path.read_bytes()
    code, err = run_cli([str(src), "--ckpt", str(ckpt), "--out", str(src)], capsys)
    assert code != 0 and "refusing" in err and "a.png" in err
    assert path.read_bytes() == before
    assert sorted(p.name for p in src.iterdir()) == ["a.png"]


def test_compare_batches_and_folders(ckpt, real_photos, tmp_path, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    crops = [real_photos[n][:48, :40] for n in ("skimage_astronaut", "skimage_chelsea", "sklearn_china")]
    names = ["a.png", "b.jpg", "sub/c.png"]
    for crop, name in zip(crops, names, strict=True):
        Image.fromarray(crop).convert("L").save(src / name)
    outs = {}
    for batch in ("1", "3"):
        out = tmp_path / f"out{batch}"
        code, err = run_cli([str(src), "--ckpt", str(ckpt), "--out", str(out), "--batch", batch, "--compare",
                             "--size", "32"], capsys)
        assert code == 0, err
        outs[batch] = out
    for name in names:
        one, three = (np.asarray(Image.open(outs[b] / name)).astype(int) for b in ("1", "3"))
        assert np.abs(one - three).max() <= 1  # batching does not change the result
    stem = Path(names[0]).stem
    pair = np.asarray(Image.open(outs["3"] / f"{stem}_compare.png"))
    single = np.asarray(Image.open(outs["3"] / names[0]))
    assert pair.shape == (48, 80, 3)
    np.testing.assert_array_equal(pair[:, 40:], single)
    left = pair[:, :40].astype(int)
    assert np.ptp(left, axis=2).max() <= 1  # the left half is gray
    assert_same_lightness(pair[:, :40], np.asarray(Image.open(src / names[0]).convert("RGB")))


def test_glob_input_and_jpeg_quality(ckpt, real_photos, tmp_path, capsys):
    for i in range(2):
        crop = real_photos["skimage_chelsea"][i * 10 : i * 10 + 40, :40]
        Image.fromarray(crop).save(tmp_path / f"p{i}.jpg")
    out = tmp_path / "out"
    args = [str(tmp_path / "*.jpg"), "--ckpt", str(ckpt), "--out", str(out), "--size", "32"]
    code, err = run_cli(args, capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["p0.jpg", "p1.jpg"]
    assert Image.open(out / "p0.jpg").format == "JPEG"


def test_missing_checkpoint_is_one_sentence(real_photos, tmp_path, capsys):
    path = tmp_path / "a.png"
    Image.fromarray(real_photos["skimage_coffee"][:8, :8]).save(path)
    args = [str(path), "--ckpt", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "o")]
    code, err = run_cli(args, capsys)
    assert code == 2 and "nope.ckpt" in err and "Traceback" not in err


def test_write_is_atomic(tmp_path):
    target = tmp_path / "x.jpg"
    with pytest.raises((OSError, ValueError, KeyError)):
        write_image(np.zeros((4, 4, 3), np.uint8), target, "NOT-A-FORMAT")
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_image(np.zeros((4, 4, 3), np.uint8), tmp_path / "x.png", "PNG")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not the temp file's private 0600


# ---------------------------------------------------------------------------------------------- API
def test_api_returns_the_same_kind(colorizer, real_photos):
    rgb = real_photos["skimage_astronaut"][:33, :47]
    gray = np.array(Image.fromarray(rgb).convert("L"))  # writable, as torch.from_numpy wants
    via_pil = np.asarray(colorize(Image.fromarray(gray), colorizer))

    out = colorize(gray, colorizer)
    assert isinstance(out, np.ndarray) and out.shape == (33, 47, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, via_pil)
    out = colorize(np.repeat(gray[..., None], 3, axis=2), colorizer)
    np.testing.assert_array_equal(out, via_pil)  # a gray RGB photo is the same photo
    out = colorize(gray.astype(np.float32) / 255.0, colorizer)
    assert out.dtype == np.float32 and out.shape == (33, 47, 3)
    assert np.abs(out * 255.0 - via_pil).max() <= 1.01

    t = colorize(torch.from_numpy(gray)[None], colorizer)
    assert t.shape == (3, 33, 47) and t.dtype == torch.uint8
    np.testing.assert_array_equal(t.permute(1, 2, 0).numpy(), via_pil)
    t = colorize(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0, colorizer)
    assert t.shape == (3, 33, 47) and t.dtype == torch.float32
    assert_same_lightness((t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), rgb)
    batch = colorize(torch.from_numpy(rgb).permute(2, 0, 1).expand(2, 3, 33, 47), colorizer)
    assert batch.shape == (2, 3, 33, 47) and batch.dtype == torch.uint8

    rgba = Image.fromarray(rgb).convert("RGBA")
    rgba.putalpha(77)
    out_img = colorize(rgba, colorizer)
    assert out_img.mode == "RGBA" and out_img.getchannel("A").getextrema() == (77, 77)
    assert colorizer(Image.fromarray(gray)).size == (47, 33)


def test_api_accepts_a_module_or_path(ckpt, colorizer, real_photos):
    import colorization

    gray = np.asarray(Image.fromarray(real_photos["skimage_coffee"][:20, :30]).convert("L"))
    want = colorize(gray, colorizer)
    np.testing.assert_array_equal(colorize(gray, colorizer.module, size=32), want)
    np.testing.assert_array_equal(colorize(gray, str(ckpt), size=32), want)
    # colorization.colorize is the function (a lazy package attribute, no submodule of that name).
    np.testing.assert_array_equal(colorization.colorize(gray, colorizer), want)


def test_pretrained_checkpoint_loads_offline(tmp_path, monkeypatch):
    """hparams that asked for hub weights at training time must not reach for the network when loading."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    module = tiny_module("l1", model={"name": "resnet", "encoder": "resnet18", "pretrained": False,
                                      "decoder_channels": [32, 16, 16, 8, 8]})
    module.hparams["model"]["pretrained"] = True  # as if trained from ImageNet weights
    path = save_checkpoint(module, tmp_path / "pre.ckpt")
    loaded = load_colorizer(path, device="cpu", size=32)
    weights = {k: v for k, v in module.state_dict().items() if k.startswith("net.")}  # not training-only state
    assert weights
    for k, v in weights.items():
        torch.testing.assert_close(loaded.module.state_dict()[k], v)
    hp = offline_model_hparams({"name": "unet", "pretrained": True, "weights": "w.pth", "encoder": "resnet18"})
    assert hp == {"name": "unet", "pretrained": False, "weights": None, "encoder": "resnet18"}


# ---------------------------------------------------------------------------------------------- LAB bytes
def test_colorize_lab8_at_the_network_size_is_the_sample_grid_rendering(ckpt, colorizer, real_crops):
    """At H, W == size the network sees exactly lab8_to_normalized(lab8)[0] and the picture is
    render_normalized(L, ab), as the training sample grids draw it: equal pixel for pixel."""
    lab8 = rgb_to_lab8(torch.from_numpy(np.ascontiguousarray(real_crops[:5, :32, :32].transpose(0, 3, 1, 2))))
    L_ = lab8_to_normalized(lab8)[0]
    seen: list[torch.Tensor] = []
    hook = colorizer.module.net.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()))
    try:
        rgb = colorizer.colorize_lab8(lab8)
    finally:
        hook.remove()
    assert torch.equal(torch.cat(seen), L_)  # no resize, no re-encoding: the training input exactly
    want = render_normalized(L_, load_trained(ckpt).colorize_normalized(L_)).permute(0, 2, 3, 1)
    assert rgb.shape == (5, 32, 32, 3) and rgb.dtype == torch.uint8
    assert torch.equal(rgb, want)
    one = colorizer.colorize_lab8(lab8[2].numpy())  # numpy [3,H,W] in, numpy [H,W,3] out
    assert isinstance(one, np.ndarray) and one.shape == (32, 32, 3)
    np.testing.assert_array_equal(one, want[2].numpy())


def test_colorize_lab8_at_another_size_keeps_size_and_lightness(colorizer, real_crops):
    crops = np.ascontiguousarray(real_crops[:3, :40, :48])
    lab8 = rgb_to_lab8(torch.from_numpy(crops.transpose(0, 3, 1, 2)))
    rgb = colorizer.colorize_lab8(lab8)
    assert rgb.shape == (3, 40, 48, 3)
    for out, src in zip(rgb.numpy(), crops, strict=True):
        assert_same_lightness(out, src)
    assert np.ptp(rgb.numpy().astype(int), axis=3).max() > 20  # coloured
    with pytest.raises(ValueError, match="uint8 LAB"):
        colorizer.colorize_lab8(lab8.float())


# ---------------------------------------------------------------------------------------------- command line
@pytest.mark.slow  # a fresh interpreter (~9 s); the command's logic runs in-process in the tests above
def test_python_m_colorization_cli_colours_a_file(ckpt, real_photos, tmp_path):
    """The command in its own process, as a user runs it (``colorize`` is this module's ``main``)."""
    src = tmp_path / "old.png"
    Image.fromarray(real_photos["skimage_coffee"][:30, :44]).convert("L").save(src)
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "colorization.cli", str(src), "--ckpt", str(ckpt), "--out", str(out),
                           "--size", "32", "--device", "cpu"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "colorized 1 file(s)" in proc.stderr
    with Image.open(out / "old.png") as img:
        assert img.size == (44, 30) and img.mode == "RGB"
        assert_same_lightness(np.asarray(img), np.asarray(Image.open(src).convert("RGB")))
    bad = subprocess.run([sys.executable, "-m", "colorization.cli", str(src), "--ckpt", str(tmp_path / "x.ckpt")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "x.ckpt does not exist" in bad.stderr and "Traceback" not in bad.stderr


# ---------------------------------------------------------------------------------------------- quarter-size heads
@pytest.fixture(scope="session")
def ce_ckpt(tmp_path_factory) -> Path:
    """A tiny vanilla model with the classification loss: its head predicts a quarter-resolution grid."""
    module = tiny_module("ce")
    with torch.no_grad():
        module.net.head.weight.mul_(30.0)  # peaked logits: ab that varies across the picture
    return save_checkpoint(module, tmp_path_factory.mktemp("ce_ckpt") / "ce.ckpt")


@pytest.mark.parametrize(("size", "photo_hw"), [(32, (45, 31)), (30, (64, 50)), (29, (17, 90))])
def test_a_ce_checkpoint_colorizes_any_size(ce_ckpt, real_photos, size, photo_hw):
    # Neither the network size nor the photo is a multiple of the head's stride (4): the ab is still full size.
    colorizer = load_colorizer(ce_ckpt, device="cpu", size=size)
    assert colorizer.module.loss_fn.output_stride == colorizer.module.net.output_stride == 4
    photo = np.ascontiguousarray(real_photos["skimage_astronaut"][100 : 100 + photo_hw[0], 200 : 200 + photo_hw[1]])
    out = colorize(photo, colorizer)
    assert out.shape == (*photo_hw, 3) and out.dtype == np.uint8
    assert_same_lightness(out, photo)
    ab = colorizer.predict_ab([lightness_from_srgb8(photo)])[0]
    assert ab.shape == (2, size, size) and ab.std() > 1.0  # a* b* units: real colour, not a flat field
    # In LAB bytes at the network size: the training module's full-size ab, rendered, pixel for pixel.
    lab8 = rgb_to_lab8(torch.from_numpy(photo[:size, :size].transpose(2, 0, 1).copy()))[None]
    if lab8.shape[-2:] == (size, size):
        L_ = lab8_to_normalized(lab8)[0]
        want = render_normalized(L_, load_trained(ce_ckpt).colorize_normalized(L_)).permute(0, 2, 3, 1)
        assert torch.equal(colorizer.colorize_lab8(lab8), want)


# ---------------------------------------------------------------------------------------------- loops, frames
def test_symlink_loops_are_reported_and_skipped(ckpt, real_photos, tmp_path, capsys):
    """A loop named on the command line, or met in a folder or a glob, is one 'symlink loop' line and exit
    status 1, like any unreadable input (a corrupt file alone exits 1 too), never a traceback."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(real_photos["skimage_coffee"][:40, :48]).save(src / "good.png")
    os.symlink("loop", tmp_path / "loop")  # ln -s loop loop
    os.symlink("b.jpg", src / "a.jpg")  # a.jpg -> b.jpg -> a.jpg
    os.symlink("a.jpg", src / "b.jpg")
    os.symlink("..", src / "sub" / "up")  # a folder cycle: not entered
    out = tmp_path / "out"
    code, err = run_cli([str(tmp_path / "loop"), str(src), "--ckpt", str(ckpt), "--out", str(out), "--size", "32"],
                        capsys)
    assert code == 1 and "Traceback" not in err
    for name in ("loop", "a.jpg", "b.jpg"):
        assert f"{tmp_path / 'loop' if name == 'loop' else src / name}: symlink loop; skipped" in err, err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["good.png"]
    code, err = run_cli([str(tmp_path / "loop"), "--ckpt", str(ckpt), "--out", str(out)], capsys)
    assert code == 1 and "symlink loop" in err and "colorized 0 file(s)" in err
    code, err = run_cli([str(src / "*.jpg"), "--ckpt", str(ckpt), "--out", str(out)], capsys)
    assert code == 1 and err.count("symlink loop") == 2


def _three_frame_gif(rgb: np.ndarray, path: Path) -> list[np.ndarray]:
    """A gray 3-frame animated GIF (100/200/300 ms, looping forever) made of ``rgb``; returns its frames."""
    grays = [Image.fromarray(rgb).resize((48, 40)).convert("L").rotate(angle) for angle in (0, 90, 180)]
    frames = [g.convert("P") for g in grays]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0)
    return [np.asarray(g.convert("RGB")) for g in grays]


def test_an_animated_gif_keeps_every_frame_coloured_and_its_timing(ckpt, real_photos, tmp_path, capsys):
    frames_in = _three_frame_gif(real_photos["skimage_astronaut"], tmp_path / "anim.gif")
    out = tmp_path / "out"
    code, err = run_cli([str(tmp_path / "anim.gif"), "--ckpt", str(ckpt), "--out", str(out), "--size", "32",
                         "--compare"], capsys)
    assert code == 0, err
    with Image.open(out / "anim.gif") as img:
        assert img.n_frames == 3 and img.info.get("loop") == 0
        durations, frames_out = [], []
        for i in range(3):
            img.seek(i)
            durations.append(img.info["duration"])
            frames_out.append(np.asarray(img.convert("RGB")).astype(int))
    assert durations == [100, 200, 300]
    for rgb, gray in zip(frames_out, frames_in, strict=True):
        assert rgb.shape == (40, 48, 3)
        assert np.ptp(rgb, axis=2).mean() > 10  # coloured, not gray (the input frames are gray)
        # each frame keeps its own picture: lightness within GIF palette quantisation of the input frame
        assert np.abs(l8(rgb.astype(np.uint8)) - l8(gray)).mean() < 8
    assert not np.array_equal(frames_out[0], frames_out[1])
    with Image.open(out / "anim_compare.gif") as img:
        assert img.n_frames == 3 and img.size == (96, 40)


def test_multi_picture_files_that_cannot_animate_say_only_the_first_was_coloured(ckpt, real_photos, tmp_path,
                                                                                   capsys):
    pictures = [Image.fromarray(real_photos["skimage_coffee"][:40, :48]), Image.new("RGB", (48, 40), "red")]
    pictures[0].save(tmp_path / "camera.mpo", format="MPO", save_all=True, append_images=pictures[1:])
    out = tmp_path / "out"
    code, err = run_cli([str(tmp_path / "camera.mpo"), "--ckpt", str(ckpt), "--out", str(out), "--size", "32"],
                        capsys)
    assert code == 0, err
    assert "camera.mpo: only the first of its 2 frames was colorized" in err
    with Image.open(out / "camera.mpo") as img:
        assert img.format == "JPEG" and img.size == (48, 40)


@pytest.mark.parametrize("suffix, timed", [(".png", True), (".webp", True), (".tif", False)])
def test_apng_webp_and_multi_page_tiff_keep_their_frames(ckpt, real_photos, tmp_path, capsys, suffix, timed):
    from colorization.io.frames import read_frames

    grays = [Image.fromarray(real_photos["skimage_coffee"]).resize((40, 32)).convert("L").rotate(a).convert("RGB")
             for a in (0, 180)]
    timing = {"duration": [120, 240], "loop": 3} if timed else {}
    grays[0].save(tmp_path / f"in{suffix}", save_all=True, append_images=grays[1:], lossless=True, **timing)
    code, err = run_cli([str(tmp_path / f"in{suffix}"), "--ckpt", str(ckpt), "--out", str(tmp_path / "out"),
                         "--size", "32"], capsys)
    assert code == 0, err
    frames = read_frames(tmp_path / "out" / f"in{suffix}")
    assert len(frames.images) == 2 and all(np.ptp(f.rgb8().astype(int), axis=2).mean() > 10 for f in frames.images)
    assert (frames.durations, frames.loop) == (([120, 240], 3) if timed else ([0, 0], None))


def test_ctrl_c_is_one_line_and_exit_130(ckpt, real_photos, tmp_path, capsys, monkeypatch):
    """Ctrl-C while colouring: what was written stays (each file whole), one line says where, no traceback."""
    import colorization.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupted)
    Image.fromarray(real_photos["skimage_coffee"][:40, :48]).save(tmp_path / "a.png")
    code = main([str(tmp_path / "a.png"), "--ckpt", str(ckpt), "--out", str(tmp_path / "out")])
    assert code == 130
    assert capsys.readouterr().err == f"colorize: interrupted; the files written so far are in {tmp_path / 'out'}\n"
