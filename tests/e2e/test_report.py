"""A real two-job sweep leaves ``report.html`` in its sweep dir: a row per group and per job, the charts, each job's
validation curve from its CSV log, and every job's test pictures of the same image ids, all files in the dir.
(~11 s alone on 2 cores, so slow; the default suite's multirun test checks report.html on its own sweep.)"""

from __future__ import annotations

import re

import pytest

from tests.support.entry_points import TINY, only_dir, run_entry

MODELS = ("vanilla", "unet_efficientnet_lite0")
NUM_FILES = 3


@pytest.mark.slow
def test_two_job_sweep_writes_an_offline_report(tmp_path, sample_data_dir):
    run_entry("train.py", ["-m", f"model={','.join(MODELS)}", "logger=csv",
                           f"callbacks.test_images_table.num_files={NUM_FILES}", *TINY], tmp_path, sample_data_dir)
    sweep = only_dir(tmp_path / "multirun")
    page = (sweep / "report.html").read_text()

    assert len(re.findall(r'<tr class="group"', page)) == 2
    assert re.findall(r'<tr class="job" data-job="(\d+)"', page) == ["0", "1"]
    assert "no CSV log" not in page and page.count('<svg class="curve"') == 2  # logger=csv: both have curves
    assert "python train.py -m model=vanilla,unet_efficientnet_lite0" in page
    for chart in ("study_psnr", "study_ssim", "study_auc", "study_val_psnr"):
        assert f'src="report/{chart}.png"' in page and (sweep / "report" / f"{chart}.png").is_file()

    # The same test image ids in both jobs (the data seed is fixed), each job's prediction linked for each.
    indexes = [(sweep / job / "test_images" / "index.csv").read_text() for job in ("0", "1")]
    assert indexes[0] == indexes[1] and len(indexes[0].splitlines()) == 1 + NUM_FILES
    for job in ("0", "1"):
        predictions = re.findall(rf'<figure class="prediction" data-job="{job}"><img src="([^"]+)"', page)
        assert len(predictions) == NUM_FILES
        assert all(p.startswith(f"{job}/test_images/") and (sweep / p).is_file() for p in predictions)
    for ref in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert not ref.startswith(("http:", "https:", "//", "/")) and (sweep / ref).resolve().is_relative_to(sweep)
