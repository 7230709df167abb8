"""A sweep says what it found: the conclusion's sentences (best arm per metric, each other arm's paired difference,
its interval and verdict, the cautions), in summary.md and in a printed summary that fits the terminal; diverged
jobs counted apart from failed ones. Sweep dirs written by hand (make_job)."""

from __future__ import annotations

import json
import logging

import pytest

from colorization.reports.sweep_summary import SweepSummaryCallback, summarize
from tests.unit import test_sweep_statistics
from tests.unit.test_sweep_statistics import make_job

# vanilla and unet (loss l1), seeds 1 and 2, images a and b: unet - vanilla = [[1, 2], [3, 4]] in PSNR.
two_by_two = test_sweep_statistics.two_by_two


def test_the_best_arm_per_metric_and_each_others_paired_difference(two_by_two):
    conclusion = summarize(two_by_two, show=False, report=False).conclusion
    # Resampling 2 seeds x 2 images: every 95% interval is [min, max] of its table (see test_sweep_statistics).
    assert conclusion.sentences == [
        "PSNR ↑: best unet · scratch, 24.00 dB [21.00, 27.00]; vanilla · scratch 2.50 dB lower [-4.00, -1.00], "
        "clearly worse.",
        "SSIM ↑: best vanilla · scratch, 0.5500 [0.5000, 0.6000]; unet · scratch 0.1500 lower [-0.2000, -0.1000], "
        "clearly worse.",
        "AuC ↑: best vanilla · scratch, 0.8000 [0.8000, 0.8000]; unet · scratch the same [+0.0000, +0.0000], "
        "no clear difference.",
    ]
    assert conclusion.cautions == ["only 2 test images (fewer than 100): intervals are wide and small differences "
                                   "go unseen."]
    md = (two_by_two / "summary.md").read_text()
    assert md.index("## Conclusion") < md.index("## Models")
    assert f"- {conclusion.sentences[0]}\n" in md and "- Caution: only 2 test images" in md


def test_thin_evidence_is_named(tmp_path):
    # One seed each; validation prefers vanilla, test prefers unet; one more unet job diverged.
    for num, model, psnr, val in ((0, "vanilla", {"a": 20.0, "b": 21.0}, 25.0), (1, "unet", {"a": 22.0, "b": 23.0},
                                                                                   24.0)):
        d = make_job(tmp_path, num, model, "l1", 1, psnr)
        st = json.loads((d / "job_status.json").read_text())
        st["metrics"]["val/psnr_best"] = val
        (d / "job_status.json").write_text(json.dumps(st))
    make_job(tmp_path, 2, "unet", "l1", 2, None, status="diverged")
    summary = summarize(tmp_path, show=False, report=False, few_images=2)
    cautions = summary.conclusion.cautions
    assert cautions[0].startswith("one seed per configuration")
    assert "validation and test disagree on the best PSNR: vanilla · scratch on validation, unet · scratch on " \
           "test" in cautions[1]
    assert cautions[2] == "1 of 3 jobs did not finish (1 diverged): their configurations rest on fewer seeds."
    assert not any("fewer than" in c for c in cautions), "2 images is not fewer than few_images=2"


def test_a_single_configuration_has_nothing_to_compare(tmp_path):
    make_job(tmp_path, 0, "unet", "l1", 1, {"a": 20.0, "b": 22.0})
    conclusion = summarize(tmp_path, show=False, report=False).conclusion
    assert conclusion.sentences[0] == "PSNR ↑: best unet · scratch, 21.00 dB [20.00, 22.00]."
    assert conclusion.how == "One configuration: nothing to compare it with."


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_the_printed_summary_fits_the_terminal(two_by_two, capsys, monkeypatch, columns):
    make_job(two_by_two, 4, "unet_efficientnet_lite0_with_a_long_name", "l1", 1, {"a": 20.0, "b": 22.0},
             weights="imagenet:timm/efficientnet_lite0.ra_in1k")
    make_job(two_by_two, 5, "vanilla", "l1", 3, None, status="diverged")
    monkeypatch.setenv("COLUMNS", str(columns))
    summarize(two_by_two, show=True, report=False, n_resamples=200)
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= columns, "\n".join(line for line in lines if len(line) > columns)
    text = "\n".join(lines)
    assert "Conclusion" in text and "clearly worse" in text
    # The essential columns survive any width: the model (its name whole, maybe over lines), PSNR, ΔPSNR, verdict.
    assert "PSNR" in text and "ΔPSNR" in text and "better" in text and "unet_efficientnet" in text
    assert "job 5 diverged" in text


def test_diverged_jobs_are_counted_apart_and_fail_the_sweep(tmp_path, caplog):
    make_job(tmp_path, 0, "vanilla", "l1", 1, {"a": 20.0, "b": 21.0})
    make_job(tmp_path, 1, "vanilla", "l1", 2, None, status="diverged")
    make_job(tmp_path, 2, "vanilla", "l1", 3, None, status="failed")
    summary = summarize(tmp_path, show=False, report=False)
    assert [r["job"] for r in summary.diverged] == ["1"] and [r["job"] for r in summary.failed] == ["2"]
    (group,) = summary.groups
    assert (group["n_seeds"], group["n_failed"], group["n_diverged"], group["n_stopped"]) == (1, 1, 1, 0)
    assert "| failed | diverged | stopped |" in (tmp_path / "summary.md").read_text()

    (tmp_path / "2" / "job_status.json").unlink()
    (tmp_path / "2").rmdir()
    config = type("Config", (), {"hydra": type("Hydra", (), {"sweep": type("Sweep", (), {"dir": str(tmp_path)})})})
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as exit_info:  # a diverged job alone fails it
        SweepSummaryCallback(n_resamples=100).on_multirun_end(config)
    assert exit_info.value.code == 1
    assert "jobs failed" not in caplog.text and "0 failed, 1 diverged" in caplog.text
    assert "1 of 2 jobs diverged (job 1)" in caplog.text
