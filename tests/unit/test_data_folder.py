"""Folder reader: every common file kind, grayscale skipped and counted, broken files never end an epoch."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from colorization.color import rgb_to_lab8
from colorization.data import DatasetError, ImageFolderLab, load_rgb, scan_images
from colorization.data.folder import resize_crop

cv2 = pytest.importorskip("cv2")


@pytest.fixture
def photo_dir(tmp_path, real_crops):
    """A tree of 64x64 test files of every kind; returns the root."""
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(real_crops[0]).save(root / "colour.jpg", quality=95)
    Image.fromarray(real_crops[1]).save(root / "sub" / "colour.png")
    Image.fromarray(real_crops[2]).save(root / "sub" / "deeper" / "colour.webp", lossless=True)
    Image.fromarray(real_crops[3]).save(root / "colour.bmp")
    Image.fromarray(real_crops[4]).save(root / "colour.tiff")
    rgba = np.dstack([real_crops[5], np.full((64, 64), 255, np.uint8)])
    rgba[:8, :8, 3] = 0  # a transparent corner
    Image.fromarray(rgba, "RGBA").save(root / "rgba.png")
    Image.fromarray(real_crops[6]).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "palette.png")
    Image.fromarray(real_crops[7]).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    cv2.imwrite(str(root / "deep16.png"), (real_crops[8][..., ::-1].astype(np.uint16) * 257))  # 16-bit colour
    Image.fromarray(real_crops[9][..., 0]).save(root / "gray.png")  # mode L
    gray_rgb = np.repeat(real_crops[10][..., :1], 3, axis=2)
    Image.fromarray(gray_rgb).save(root / "gray_in_rgb.png")  # gray photo stored as RGB
    cv2.imwrite(str(root / "gray16.png"), real_crops[11][..., 0].astype(np.uint16) * 257)  # 16-bit gray
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def test_scan_sorts_files_into_colour_grayscale_and_unreadable(photo_dir, caplog):
    with caplog.at_level(logging.INFO, logger="colorization.data.folder"):
        scan = scan_images(photo_dir)
    names = sorted(p.name for p in scan.files)
    assert names == ["cmyk.jpg", "colour.bmp", "colour.jpg", "colour.png", "colour.tiff", "colour.webp",
                     "deep16.png", "palette.png", "rgba.png"]
    assert sorted(p.name for p in scan.grayscale) == ["gray.png", "gray16.png", "gray_in_rgb.png"]
    assert [p.name for p in scan.unreadable] == ["broken.jpg"]
    assert "skipped 3 grayscale" in caplog.text
    assert str(photo_dir / "broken.jpg") in caplog.text  # the path is reported


def test_decoding_of_special_formats(photo_dir, real_crops):
    np.testing.assert_array_equal(load_rgb(photo_dir / "sub" / "colour.png"), real_crops[1])
    np.testing.assert_array_equal(load_rgb(photo_dir / "deep16.png"), real_crops[8])  # top 8 bits of 16
    rgba = load_rgb(photo_dir / "rgba.png")
    assert rgba.shape == (64, 64, 3) and (rgba[:8, :8] == 255).all()  # transparency over white
    np.testing.assert_array_equal(rgba[8:, 8:], real_crops[5][8:, 8:])
    cmyk = load_rgb(photo_dir / "cmyk.jpg")
    assert cmyk.shape == (64, 64, 3) and np.abs(cmyk.astype(int) - real_crops[7]).mean() < 6
    palette = load_rgb(photo_dir / "palette.png")
    assert palette.shape == (64, 64, 3) and np.abs(palette.astype(int) - real_crops[6]).mean() < 8
    gray16 = load_rgb(photo_dir / "gray16.png")
    np.testing.assert_array_equal(gray16[..., 0], real_crops[11][..., 0])  # scaled, not clipped at 255


def test_exif_orientation_is_honoured(tmp_path, real_crops):
    wide = np.ascontiguousarray(real_crops[0][:32])  # 32 rows x 64 columns
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(wide).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    assert load_rgb(tmp_path / "rotated.jpg").shape == (64, 32, 3)


def test_items_are_lab8_at_the_requested_size(photo_dir, real_crops):
    ds = ImageFolderLab(photo_dir, size=32)
    assert len(ds) == 9 and len(ds.skipped_gray) == 3 and len(ds.unreadable) == 1
    for i in range(len(ds)):
        item = ds[i]
        assert item.dtype == torch.uint8 and item.shape == (3, 32, 32)
    i = [p.name for p in ds.files].index("colour.png")
    expected = rgb_to_lab8(torch.from_numpy(resize_crop(real_crops[1], 32)).permute(2, 0, 1))
    assert torch.equal(ds[i], expected)
    assert (ds[i][1:].float() - 128).abs().max() > 10  # colour survived


def test_resize_crop_shorter_side_then_centre(real_photos):
    photo = real_photos["skimage_coffee"]  # 400 x 600
    out = resize_crop(photo, 100)
    assert out.shape == (100, 100, 3)
    rng_out = resize_crop(photo, 100, rng=__import__("random").Random(0))
    assert rng_out.shape == (100, 100, 3)


def test_a_file_broken_after_the_scan_is_skipped_and_reported(photo_dir, caplog):
    ds = ImageFolderLab(photo_dir, size=32)
    victim = ds.files[0]
    victim.write_bytes(b"corrupted after scanning")
    with caplog.at_level(logging.WARNING, logger="colorization.data.folder"):
        item = ds[0]
    assert item.shape == (3, 32, 32)
    assert torch.equal(item, ds[1])  # the next image stands in
    assert str(victim) in caplog.text


def test_folder_without_colour_images(tmp_path, real_crops):
    Image.fromarray(real_crops[0][..., 0]).save(tmp_path / "only_gray.png")
    with pytest.raises(DatasetError, match="no usable colour images"):
        ImageFolderLab(tmp_path, size=32)


def test_scan_uses_the_shared_suffix_list_and_walk(tmp_path, real_crops):
    """Upper-case suffixes and GIFs count; hidden files and folders do not (as for ``colorize DIR``)."""
    from colorization.io.image_files import find_inputs

    (tmp_path / ".cache").mkdir()
    Image.fromarray(real_crops[0]).save(tmp_path / "UPPER.PNG")
    Image.fromarray(real_crops[1]).quantize(32).save(tmp_path / "palette.gif")
    Image.fromarray(real_crops[2]).save(tmp_path / ".hidden.png")
    Image.fromarray(real_crops[3]).save(tmp_path / ".cache" / "copy.png")
    scan = scan_images(tmp_path)
    assert [p.name for p in scan.files] == ["UPPER.PNG", "palette.gif"]
    pairs, _ = find_inputs([str(tmp_path)])
    assert [p for p, _ in pairs] == scan.files


def test_one_decoder_full_precision_lightness_and_rounded_bytes():
    """16-bit gray: L* from all 16 bits, bytes rounded to 8; alpha split off, composited only on request."""
    from colorization.color import lightness_from_gray16
    from colorization.io.image_files import decode_pil

    gray16 = np.array([[0, 257 * 100 + 128, 65535]], dtype=np.uint16)
    decoded = decode_pil(Image.fromarray(gray16))
    assert decoded.is_gray and decoded.samples.dtype == np.uint16
    torch.testing.assert_close(decoded.lightness, lightness_from_gray16(gray16))
    np.testing.assert_array_equal(decoded.rgb8()[0, :, 0], [0, 100, 255])  # 25828/257 = 100.5 -> 100
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[..., :3] = 40
    rgba[0, :, 3] = [0, 255]
    decoded = decode_pil(Image.fromarray(rgba, "RGBA"))
    np.testing.assert_array_equal(decoded.alpha, [[0, 255]])
    np.testing.assert_array_equal(decoded.rgb8()[0, :, 0], [40, 40])  # samples as stored
    np.testing.assert_array_equal(decoded.rgb8(background=255)[0, :, 0], [255, 40])  # what a viewer sees
