"""One prediction, one picture: the W&B sample grid, the grid PNG and ``colorize`` show the same pixels.

A tiny run trains one epoch with the W&B logger (offline) and the sample-grid callback; its ``last.ckpt`` holds the
weights the grid was drawn with (validation ends the epoch, the checkpoint is written after it). The same fixed
validation images, coloured from that checkpoint by the ``colorize`` library, must equal the grid's prediction
panel pixel for pixel, in the PNG and in the image W&B stored.
"""

from __future__ import annotations

import hydra
import numpy as np
from PIL import Image

from colorization.inference.colorizer import load_colorizer
from tests.support.entry_points import TINY
from tests.support.in_process import compose_config

N_IMAGES = 3


def test_wandb_grid_png_grid_and_colorize_are_pixel_identical(train_job, sample_data_dir, tmp_path):
    overrides = ["model=vanilla", "logger=wandb", "trainer.max_epochs=1",
                 f"++callbacks.sample_grid.num_images={N_IMAGES}"]
    result, run_dir = train_job(*overrides)
    cfg = compose_config("train", [*TINY, *overrides], tmp_path / "compose", sample_data_dir)
    size = cfg.data.image_size

    # The fixed images the callback showed, taken from the datamodule the way the callback takes them.
    dm = hydra.utils.instantiate(cfg.data)
    lab8 = dm.fixed_images(N_IMAGES)
    assert lab8.shape == (N_IMAGES, 3, size, size)

    colorizer = load_colorizer(result["last_ckpt"], device="cpu", size=size, batch_size=N_IMAGES)
    colorized = np.asarray(colorizer.colorize_lab8(lab8))  # [N, H, W, 3] uint8
    assert colorized.shape == (N_IMAGES, size, size, 3)

    # The grid PNG: rows of gray | prediction | truth, 2-pixel white gaps between rows.
    grid = np.asarray(Image.open(run_dir / "samples" / "epoch_000.png").convert("RGB"))
    for i in range(N_IMAGES):
        row = grid[i * (size + 2) : i * (size + 2) + size]
        np.testing.assert_array_equal(row[:, size : 2 * size], colorized[i])

    # The same rows as W&B stored them: one PNG per validation picture (its file name is a content hash, so the
    # order is the caption's, not the file system's): every stored prediction panel is one of ours, all of ours.
    media = sorted((run_dir / "wandb").glob("offline-run-*/files/media/images/val/samples_*.png"))
    assert len(media) == N_IMAGES, media
    stored = {np.asarray(Image.open(p).convert("RGB"))[:, size : 2 * size].tobytes() for p in media}
    assert stored == {np.ascontiguousarray(img).tobytes() for img in colorized}
    # And the picture is a colour picture, not a gray one that would match trivially.
    assert np.abs(colorized.astype(int) - colorized.mean(axis=-1, keepdims=True)).max() > 0

