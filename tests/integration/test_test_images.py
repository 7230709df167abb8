"""Every job's test writes ``test_images.csv`` (each test image's own metrics, by id) and, with W&B, a table of
the test images with their pictures."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from PIL import Image

from colorization.color import render_normalized
from colorization.metrics import IMAGE_METRIC_KEYS
from colorization.training.module import ColorizationModule
from tests.support.entry_points import TINY
from tests.support.in_process import compose_config
from tests.support.wandb_files import wandb_records

COLUMNS = ["image", "psnr", "psnr_gray", "ssim", "ssim_gray", "auc", "auc_gray", "cf", "cf_gray", "cf_true"]
# The whole test split (2 photos x 4 crops) in batches of 3, so the last batch is partial; the data's own seed
# fixed, so two job seeds see the same images.
SETTINGS = ["model=vanilla", "logger=wandb", "data.batch_size=3", "trainer.limit_test_batches=1.0", "data.seed=0"]


def _read_csv(path) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    with path.open() as f:
        rows = list(csv.reader(f))
    values = {key: np.array([float(r[j]) for r in rows[1:]]) for j, key in enumerate(rows[0][1:], start=1)}
    return rows[0], [r[0] for r in rows[1:]], values


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory, sample_data_dir):
    """Two tiny jobs over the same data with seeds 1 and 2: ``{seed: (result, run dir)}``."""
    from tests.support.in_process import train_in_process

    runs = {}
    for seed in (1, 2):
        out = tmp_path_factory.mktemp(f"seed{seed}") / "run"
        # Seed 2's table is capped below the 8 test images: it shows 3 spread over them.
        table = [] if seed == 1 else ["callbacks.test_images_table.num_images=3"]
        runs[seed] = train_in_process([*TINY, *SETTINGS, f"seed={seed}", *table], out, sample_data_dir), out
    return runs


def _test_datamodule(run_dir, sample_data_dir):
    cfg = compose_config("train", [*TINY, *SETTINGS], run_dir, sample_data_dir)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup("test")
    return dm


def test_csv_has_one_row_per_test_image_and_the_means_of_metrics_json(two_seeds, sample_data_dir):
    result, run_dir = two_seeds[1]
    header, ids, values = _read_csv(run_dir / "test_images.csv")
    assert header == COLUMNS
    dm = _test_datamodule(run_dir, sample_data_dir)
    n = len(dm.data_test)
    assert n == 8 and len(ids) == n and len(set(ids)) == n
    assert ids == dm.image_ids("test", range(n))  # every test image, in stored order
    manifest = json.loads((dm.sample_dir / "manifest.json").read_text())
    assert [i.split("/")[1] for i in ids] == [p for p in manifest["photos"]["test"] for _ in range(4)]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in IMAGE_METRIC_KEYS:
        assert math.isclose(values[key].mean(), metrics[f"test/{key}"], rel_tol=1e-5, abs_tol=1e-6), key
    # dCF stays the gap between the dataset means of colourfulness.
    assert math.isclose(abs(values["cf"].mean() - values["cf_true"].mean()), metrics["test/dcf"], rel_tol=1e-4,
                        abs_tol=1e-4)
    assert math.isclose(abs(values["cf_gray"].mean() - values["cf_true"].mean()), metrics["test/dcf_gray"],
                        rel_tol=1e-4, abs_tol=1e-4)
    assert np.all(values["cf_gray"] < 1e-3) and np.all(values["cf_true"] > 1)  # gray has no colour; photos do
    assert np.all((values["auc"] > 0) & (values["auc"] <= 1)) and np.all(values["psnr"] > 5)

    status = json.loads((run_dir / "job_status.json").read_text())
    assert status["status"] == "ok" and status["test_images"] == str(run_dir / "test_images.csv")
    assert status["seed"] == 1 and status["encoder_weights"] == "scratch"
    assert result["test_images"] == status["test_images"]


def test_two_seeds_give_the_same_ids_in_the_same_order(two_seeds):
    _, ids1, values1 = _read_csv(two_seeds[1][1] / "test_images.csv")
    _, ids2, values2 = _read_csv(two_seeds[2][1] / "test_images.csv")
    assert ids1 == ids2
    np.testing.assert_array_equal(values1["cf_true"], values2["cf_true"])  # the same images: the same truth
    np.testing.assert_array_equal(values1["psnr_gray"], values2["psnr_gray"])
    assert not np.array_equal(values1["psnr"], values2["psnr"])  # but other networks


def _logged_table(run_dir: Path, key: str) -> tuple[dict, dict[str, Path]]:
    """The W&B table logged under ``key`` as the run recorded it: its JSON (image cells included) and where each
    of its files lies (``path in the table -> staged file``), from the run_table artifact of the offline run."""
    (wandb_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    deadline = time.monotonic() + 60  # W&B's service writes the file behind the run: read again while it lags
    while True:
        records = list(wandb_records(wandb_file))
        for record in records:
            artifact = record.artifact
            if record.WhichOneof("record_type") == "artifact" and artifact.type == "run_table":
                files = {e.path: Path(e.local_path) for e in artifact.manifest.contents}
                if f"{key}.table.json" in files:
                    return json.loads(files[f"{key}.table.json"].read_text()), files
        if time.monotonic() > deadline:
            raise AssertionError(f"no table {key} in {wandb_file}")
        time.sleep(0.5)


def test_wandb_table_holds_the_test_images_with_their_metrics_and_pictures(two_seeds, sample_data_dir):
    result, run_dir = two_seeds[1]
    _, ids, values = _read_csv(run_dir / "test_images.csv")
    columns = ["image", "gray", "prediction", "truth", *IMAGE_METRIC_KEYS]
    # The run's own copy (pictures stand as "Image" there) and the full table with its pictures.
    (in_run,) = run_dir.glob("wandb/offline-run-*/files/media/table/test/images_*.table.json")
    table, files = _logged_table(run_dir, "test/images")
    for logged in (json.loads(in_run.read_text()), table):
        assert logged["columns"] == columns
        assert [r[0] for r in logged["data"]] == ids  # 8 test images, fewer than num_images: all of them
        for j, key in enumerate(IMAGE_METRIC_KEYS, start=4):
            np.testing.assert_allclose([r[j] for r in logged["data"]], values[key], rtol=1e-6)

    # The pictures are the renderings of those images: truth and gray from the data, the prediction from the
    # checkpoint the test ran.
    dm = _test_datamodule(run_dir, sample_data_dir)
    module = ColorizationModule.load_from_checkpoint(result["best_ckpt"], map_location="cpu").eval()
    # In inference mode, as the test: the CPU conversion buffers the test made in it are inference tensors.
    with torch.inference_mode():
        L_, ab = dm.on_after_batch_transfer(dm.data_test.get_batch(range(len(ids))), 0)
        expected = {"gray": render_normalized(L_, torch.zeros_like(ab)), "truth": render_normalized(L_, ab),
                    "prediction": render_normalized(L_, module.colorize_normalized(L_))}
    for i, row in enumerate(table["data"]):
        for j, name in enumerate(("gray", "prediction", "truth"), start=1):
            cell = row[j]
            assert cell["_type"] == "image-file" and (cell["width"], cell["height"]) == (32, 32)
            png = np.asarray(Image.open(files[cell["path"]]).convert("RGB"))
            assert np.array_equal(png, expected[name][i].permute(1, 2, 0).numpy()), (i, name)


def test_wandb_table_shows_at_most_num_images_spread_over_the_test_images(two_seeds):
    _, run_dir = two_seeds[2]
    _, ids, values = _read_csv(run_dir / "test_images.csv")
    table, _ = _logged_table(run_dir, "test/images")
    assert [r[0] for r in table["data"]] == [ids[0], ids[4], ids[7]]  # first, middle, last of the 8
    np.testing.assert_allclose([r[4] for r in table["data"]], values["psnr"][[0, 4, 7]], rtol=1e-6)
