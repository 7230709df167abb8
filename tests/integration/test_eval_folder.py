"""``python eval.py data=folder data.root=DIR ckpt_path=...``: every photo whole, at full resolution, exactly as
``colorize DIR`` picks, decodes and colours it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from colorization.cli import main as colorize_main
from colorization.color import lab8_to_normalized, render_normalized, rgb_to_lab8
from colorization.data import DatasetError
from colorization.eval import CONFIG_DIR, evaluate, evaluate_command, name_the_checkpoint
from colorization.inference.colorizer import colorize, load_colorizer
from colorization.inference.folder_eval import evaluate_folder
from colorization.metrics import METRIC_KEYS, ab_auc, colorfulness
from tests.support.checkpoints import save_checkpoint, tiny_module
from tests.support.in_process import run_in_process

REPO = Path(__file__).resolve().parents[2]
# Odd, non-square sizes: whole photos, never crops or squares.
PHOTO_SIZES = {"skimage_astronaut": (45, 61), "skimage_coffee": (52, 37)}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A tiny vanilla l1 checkpoint whose head is biased towards a colour, so prediction != gray."""
    module = tiny_module("l1")
    with torch.no_grad():
        module.net.head.bias.copy_(torch.tensor([0.15, 0.1]))
    return save_checkpoint(module, tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


@pytest.fixture(scope="module")
def photo_dir(real_photos, tmp_path_factory) -> Path:
    """Two colour photos (one in a subfolder, one JPEG), one grayscale photo and one corrupt file."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    for (name, (h, w)), rel in zip(PHOTO_SIZES.items(), ["a.png", "sub/b.jpg"], strict=True):
        Image.fromarray(real_photos[name]).resize((w, h), Image.Resampling.BICUBIC).save(root / rel, quality=95)
    gray = Image.fromarray(real_photos["skimage_chelsea"]).convert("L").resize((40, 40))
    gray.save(root / "gray.png")
    (root / "broken.jpg").write_bytes(b"not an image at all")
    return root


def _run_eval(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLORIZATION_HOME": str(home), "WANDB_MODE": "offline"}
    return subprocess.run([sys.executable, str(REPO / "eval.py"), *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=300)


def _eval_in_process(overrides: list[str], output_dir: Path) -> dict:
    """``conf/eval.yaml`` composed with ``overrides`` and evaluated in this process."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("eval", overrides=[*overrides, f"paths.output_dir={output_dir}"])
    return evaluate(cfg)


def _gray_baseline(rgb: np.ndarray) -> dict[str, float]:
    """Metrics of a = b = 0 against the photo, computed here at the photo's full size."""
    L_, ab = lab8_to_normalized(rgb_to_lab8(torch.from_numpy(rgb).permute(2, 0, 1))[None])
    true = render_normalized(L_, ab, dtype=torch.float32)
    gray = render_normalized(L_, torch.zeros_like(ab), dtype=torch.float32)
    mse = (true - gray).square().mean()
    return {"psnr": float(10 * torch.log10(1 / mse)), "cf": float(colorfulness(gray)[0]),
            "cf_true": float(colorfulness(true)[0]), "auc": float(ab_auc(torch.zeros_like(ab), ab)[0])}


@pytest.fixture(scope="module")
def folder_run(ckpt, photo_dir, tmp_path_factory) -> tuple[dict, Path]:
    run_dir = tmp_path_factory.mktemp("run")
    result = _eval_in_process(["data=folder", f"data.root={photo_dir}", f"ckpt_path={ckpt}", "size=32",
                               "device=cpu", "save_images=true"], run_dir)
    return result, run_dir


@pytest.mark.slow  # an eval.py process (~7 s); folder evaluation itself runs in-process in the tests above
def test_eval_py_command_line_writes_metrics_and_counts(ckpt, photo_dir, tmp_path):
    """The one subprocess run: the Hydra command line, its run dir and its job status. The folder holds a corrupt
    file: as `colorize`, eval does every photo it can, then exits 1 with one line naming the file."""
    run_dir = tmp_path / "run"
    proc = _run_eval(["data=folder", f"data.root={photo_dir}", f"ckpt_path={ckpt}", "size=32", "device=cpu",
                      f"hydra.run.dir={run_dir}"], tmp_path)
    line = (f"DatasetError: data.root={photo_dir}: 1 unreadable file(s) skipped ({photo_dir / 'broken.jpg'}); "
            "metrics.json covers the other 2 photo(s): fix or remove them")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).count(line) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {f"test/{k}" for k in METRIC_KEYS} <= set(metrics)
    assert all(np.isfinite(metrics[f"test/{k}"]) for k in METRIC_KEYS)
    assert metrics["images"] == 2 and metrics["skipped_grayscale"] == 1 and metrics["skipped_unreadable"] == 1
    assert metrics["size"] == 32
    # The biased head colours the photos: the prediction is not the gray baseline.
    assert metrics["test/psnr"] != pytest.approx(metrics["test/psnr_gray"], abs=1e-3)
    status = json.loads((run_dir / "job_status.json").read_text())
    # The log and the status name the checkpoint's network, not "model None, loss None".
    assert (status["status"], status["error"], status["model"], status["loss"]) == ("failed", line, "vanilla", "l1")
    assert "model vanilla, loss l1" in (run_dir / "eval.log").read_text()


def test_eval_of_a_folder_with_an_unreadable_file_fails_after_writing_its_metrics(ckpt, photo_dir, tmp_path):
    """One rule for skipped inputs, colorize's: everything readable is done, then exit status 1 naming the file."""
    overrides = ["data=folder", f"data.root={photo_dir}", f"ckpt_path={ckpt}", "size=32", "device=cpu"]
    with pytest.raises(DatasetError) as failed:
        run_in_process("eval", evaluate_command, overrides, tmp_path / "run", tmp_path / "data")
    assert str(failed.value) == (f"data.root={photo_dir}: 1 unreadable file(s) skipped ({photo_dir / 'broken.jpg'});"
                                 " metrics.json covers the other 2 photo(s): fix or remove them")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["images"] == 2
    assert json.loads((tmp_path / "run" / "job_status.json").read_text())["status"] == "failed"


def test_eval_names_the_checkpoints_model_and_loss(ckpt, tmp_path):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("eval", overrides=[f"ckpt_path={ckpt}", f"paths.output_dir={tmp_path}"])
    named = name_the_checkpoint(cfg)
    assert (named.model.name, named.loss.name) == ("vanilla", "l1")


def test_folder_eval_in_process_returns_what_it_writes(folder_run):
    result, run_dir = folder_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result["metrics"] == {k: v for k, v in metrics.items() if k.startswith("test/")}
    assert (result["images"], result["skipped_grayscale"], result["skipped_unreadable"], result["colorized"]) == (
        2, 1, 1, 2)


def test_folder_gray_baseline_equals_direct_computation(folder_run, photo_dir):
    _, run_dir = folder_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    photos = [np.array(Image.open(photo_dir / rel).convert("RGB")) for rel in ("a.png", "sub/b.jpg")]
    assert [p.shape[:2] for p in photos] == list(PHOTO_SIZES.values())
    direct = [_gray_baseline(p) for p in photos]
    mean = {k: float(np.mean([d[k] for d in direct])) for k in direct[0]}
    assert metrics["test/psnr_gray"] == pytest.approx(mean["psnr"], abs=1e-3)
    assert metrics["test/cf_gray"] == pytest.approx(mean["cf"], abs=1e-3)
    assert metrics["test/cf_true"] == pytest.approx(mean["cf_true"], abs=1e-3)
    assert metrics["test/dcf_gray"] == pytest.approx(abs(mean["cf"] - mean["cf_true"]), abs=1e-3)
    assert metrics["test/auc_gray"] == pytest.approx(mean["auc"], abs=1e-5)


def test_folder_save_images_full_size_with_true_lightness(folder_run, photo_dir):
    _, run_dir = folder_run
    out = run_dir / "colorized"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["a.png", "sub/b.png"]
    for rel, src in (("a.png", "a.png"), ("sub/b.png", "sub/b.jpg")):
        colour = np.array(Image.open(out / rel).convert("RGB"))
        photo = np.array(Image.open(photo_dir / src).convert("RGB"))
        assert colour.shape == photo.shape  # full size, not the network's 32x32
        l_out = rgb_to_lab8(torch.from_numpy(colour).permute(2, 0, 1))[0].int()
        l_in = rgb_to_lab8(torch.from_numpy(photo).permute(2, 0, 1))[0].int()
        assert (l_out - l_in).abs().max() <= 2  # the photo's own lightness, up to 8-bit rounding
        assert colour.astype(int).std(axis=2).mean() > 1  # coloured, not gray


def test_folder_without_colour_photos_says_so(ckpt, tmp_path):
    root = tmp_path / "grays"
    root.mkdir()
    Image.new("L", (32, 32), 128).save(root / "g.png")
    with pytest.raises(DatasetError, match=r"no colour photo in it could be evaluated \(1 grayscale, 0 unreadable"):
        evaluate_folder(ckpt, root, tmp_path / "run", size=32, device="cpu")
    os.symlink("loop.png", root / "loop.png")  # a symlink loop is one more unreadable file, not a traceback
    with pytest.raises(DatasetError, match=r"no colour photo in it could be evaluated \(1 grayscale, 1 unreadable"):
        evaluate_folder(ckpt, root, tmp_path / "run", size=32, device="cpu")


# ---------------------------------------------------------------------------------------------- eval == colorize
COLOUR_FILES = ["UPPER.PNG", "a.jpg", "b.png", "deep16.png", "pal.gif", "rgba.png", "sub/c.png", "sub/deeper/d.tif"]
GRAY_FILES = ["gray.png", "gray16.png"]


@pytest.fixture(scope="module")
def mixed_dir(real_photos, tmp_path_factory) -> Path:
    """Every kind of file a photo folder holds: the colour photos of COLOUR_FILES, the gray ones of GRAY_FILES,
    a corrupt JPEG, a text file and a hidden PNG."""
    cv2 = pytest.importorskip("cv2")
    root = tmp_path_factory.mktemp("mixed")
    (root / "sub" / "deeper").mkdir(parents=True)

    def photo(name: str, h: int, w: int) -> Image.Image:
        return Image.fromarray(real_photos[name]).resize((w, h), Image.Resampling.BICUBIC)

    photo("skimage_astronaut", 45, 61).save(root / "a.jpg", quality=90)
    photo("skimage_coffee", 40, 33).save(root / "b.png")
    photo("sklearn_china", 37, 52).save(root / "UPPER.PNG")
    rgb16 = np.asarray(photo("skimage_chelsea", 36, 48)).astype(np.uint16) * 257 + 77
    cv2.imwrite(str(root / "deep16.png"), np.ascontiguousarray(rgb16[..., ::-1]))  # 16-bit colour
    rgba = photo("skimage_astronaut", 34, 40).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (34, 1))))
    rgba.save(root / "rgba.png")
    photo("skimage_coffee", 32, 44).quantize(64).save(root / "pal.gif")
    photo("skimage_chelsea", 41, 35).save(root / "sub" / "c.png")
    photo("sklearn_china", 33, 39).convert("CMYK").save(root / "sub" / "deeper" / "d.tif")
    photo("skimage_chelsea", 40, 40).convert("L").save(root / "gray.png")
    gray16 = np.asarray(photo("skimage_coffee", 35, 38).convert("L")).astype(np.uint16) * 257
    Image.fromarray(gray16).save(root / "gray16.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    photo("skimage_coffee", 32, 32).save(root / ".hidden.png")
    return root


def test_eval_and_colorize_choose_the_same_files_and_colour_them_alike(ckpt, mixed_dir, tmp_path, capsys):
    result = _eval_in_process(["data=folder", f"data.root={mixed_dir}", f"ckpt_path={ckpt}", "size=32",
                               "device=cpu", "save_images=true"], tmp_path / "run")
    out = tmp_path / "colorized"
    code = colorize_main([str(mixed_dir), "--ckpt", str(ckpt), "--out", str(out), "--size", "32", "--batch", "1",
                          "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "broken.jpg" in err  # the corrupt file is the one problem
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(COLOUR_FILES + GRAY_FILES)  # no .txt, no hidden file, upper-case suffix found
    # eval saw the same files: the colour ones evaluated, the gray ones and the corrupt one skipped.
    saved = tmp_path / "run" / "colorized"
    evaluated = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*.png"))
    assert evaluated == sorted(str(Path(f).with_suffix(".png")) for f in COLOUR_FILES)
    assert (result["images"], result["skipped_grayscale"], result["skipped_unreadable"]) == (
        len(COLOUR_FILES), len(GRAY_FILES), 1)
    assert [Path(f).name for f in result["unreadable_files"]] == ["broken.jpg"]
    # ... decoded them to the same lightness and coloured them identically, pixel for pixel.
    colorizer = load_colorizer(ckpt, device="cpu", size=32)
    for rel in COLOUR_FILES:
        by_eval = np.asarray(Image.open(saved / Path(rel).with_suffix(".png")))
        with Image.open(mixed_dir / rel) as img:
            by_api = np.asarray(colorize(img, colorizer).convert("RGB"))
        np.testing.assert_array_equal(by_eval, by_api, err_msg=rel)
        if rel.lower().endswith(".png"):  # lossless outputs of the command itself
            by_cli = np.asarray(Image.open(out / rel).convert("RGB"))
            np.testing.assert_array_equal(by_eval, by_cli, err_msg=rel)


def test_test_split_through_the_trainer_around_the_loaded_network(ckpt, mixed_dir, tmp_path):
    """``whole_photos=false``: the data's test split of crops through ``trainer.test``; the module is built
    around the checkpoint's network, and the saved pictures are the true L with the predicted ab."""
    run_dir = tmp_path / "run"
    result = _eval_in_process(["data=folder", f"data.root={mixed_dir}", f"ckpt_path={ckpt}", "whole_photos=false",
                               "data.image_size=32", "data.batch_size=2", "data.num_workers=0",
                               "data.persistent_workers=false", "data.pin_memory=false", "data.drop_last=false",
                               "data.test_fraction=0.25", "trainer.accelerator=cpu",
                               "+trainer.enable_progress_bar=false", "save_images=true"], run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {f"test/{k}" for k in METRIC_KEYS} <= set(metrics) and result["metrics"] == metrics
    assert metrics["test/psnr"] != pytest.approx(metrics["test/psnr_gray"], abs=1e-3)  # the biased head colours
    saved = sorted((run_dir / "colorized").iterdir())
    assert len(saved) == result["colorized"] == 2  # a quarter of the 8 colour photos
    for path in saved:
        rgb = np.asarray(Image.open(path))
        assert rgb.shape == (32, 32, 3) and np.ptp(rgb.astype(int), axis=2).max() > 10


# ---------------------------------------------------------------------------------------------- big photos
# Wraps a command so that RUSAGE_CHILDREN's peak RSS is that command's alone; prints "rc seconds maxrss_kb".
_MEASURE = ("import resource, subprocess, sys, time; t = time.perf_counter(); rc = subprocess.call(sys.argv[1:]); "
            "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
BIG_PHOTO_SECONDS, BIG_PHOTO_GIB = 30.0, 4.0  # issue 14's bounds for one 24-MP photo on a 2-core machine


@pytest.mark.slow  # a 24-MP photo end to end (~20 s on 2 busy cores; it took 128 s and 19 GB before strips)
def test_a_24_megapixel_photo_is_evaluated_whole_in_bounded_time_and_memory(ckpt, real_photos, tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    photo = Image.fromarray(real_photos["skimage_astronaut"]).resize((6000, 4000), Image.Resampling.BICUBIC)
    photo.save(root / "photo.jpg", quality=92)
    del photo
    run_dir = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLORIZATION_HOME": str(tmp_path), "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, str(REPO / "eval.py"), "data=folder",
                           f"data.root={root}", f"ckpt_path={ckpt}", "size=256", "device=cpu",
                           f"hydra.run.dir={run_dir}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    rc, seconds, maxrss_kb = proc.stdout.split()[-3:]
    assert int(rc) == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["images"] == 1 and all(np.isfinite(metrics[f"test/{k}"]) for k in METRIC_KEYS)
    gib = int(maxrss_kb) / 2**20
    print(f"24-MP photo: {float(seconds):.1f} s, peak RSS {gib:.2f} GiB")  # shown with -s, for BENCHMARKS.md
    assert float(seconds) <= BIG_PHOTO_SECONDS and gib <= BIG_PHOTO_GIB, (seconds, gib)
