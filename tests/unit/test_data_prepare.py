"""``colorization prepare``: a folder of photos becomes the Kaggle layout."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from colorization.color import rgb_to_lab8
from colorization.data import KaggleLabDataset
from colorization.data import prepare as prep
from colorization.data.folder import resize_crop


@pytest.fixture
def photos(tmp_path, real_crops):
    root = tmp_path / "photos"
    (root / "nested").mkdir(parents=True)
    for i in range(5):
        Image.fromarray(real_crops[i]).save((root if i % 2 else root / "nested") / f"p{i}.png")
    Image.fromarray(real_crops[5][..., 0]).save(root / "gray.png")
    (root / "broken.png").write_bytes(b"garbage")
    return root


def _run(*args):
    return subprocess.run([sys.executable, "-m", "colorization", "prepare", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_writes_a_readable_kaggle_layout(photos, tmp_path, real_crops):
    out = tmp_path / "out"
    res = _run("--images", str(photos), "--out", str(out), "--size", "32", "--per-file", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "wrote 5 images of 32x32" in res.stdout and "1 grayscale, 1 unreadable" in res.stdout
    assert sorted(p.name for p in (out / "ab" / "ab").iterdir()) == ["ab1.npy", "ab2.npy", "ab3.npy"]
    ds = KaggleLabDataset(out)
    assert len(ds) == 5
    files = sorted(p for p in photos.rglob("p*.png"))  # the scan's order: sorted paths
    first = int(files[0].stem[1:])
    expected = rgb_to_lab8(torch.from_numpy(resize_crop(real_crops[first], 32)).permute(2, 0, 1))
    assert torch.equal(ds[0], expected)


def test_cli_errors_are_one_clear_line(photos, tmp_path, capsys):
    assert prep.main(["--images", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and str(tmp_path / "missing") in err
    out = tmp_path / "full"
    out.mkdir()
    (out / "x").write_text("keep me")
    assert prep.main(["--images", str(photos), "--out", str(out), "--no-progress"]) == 1
    assert "--overwrite" in capsys.readouterr().err and (out / "x").exists()
    assert prep.main(["--images", str(photos), "--out", str(out), "--size", "0"]) == 2
    with pytest.raises(SystemExit) as info:
        prep.main(["--images", str(photos)])  # argparse: --out is required
    assert info.value.code == 2


def test_files_failing_after_the_scan_are_dropped(photos, tmp_path, monkeypatch):
    real_convert = prep._convert

    def flaky(job):
        return "OSError: broken later" if job[0].name == "p1.png" else real_convert(job)

    monkeypatch.setattr(prep, "_convert", flaky)
    counts = prep.prepare(photos, tmp_path / "out", size=16, per_file=3, progress=False)
    assert counts == {"written": 4, "grayscale": 1, "unreadable": 2}
    ds = KaggleLabDataset(tmp_path / "out")
    assert len(ds) == 4
    shapes = [np.load(p, mmap_mode="r").shape[0] for p in sorted((tmp_path / "out" / "ab" / "ab").iterdir())]
    assert shapes == [3, 1]
