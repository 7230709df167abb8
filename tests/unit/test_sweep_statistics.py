"""The group table of a sweep: one row per (model, loss) over seeds, intervals over seeds x test images, the paired
difference against Vanilla and its verdict -- on sweep dirs made by hand, checked against hand computations."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from colorization.reports.sweep_summary import main, summarize

COLUMNS = ["image", "psnr", "psnr_gray", "ssim", "ssim_gray", "auc", "auc_gray", "cf", "cf_gray", "cf_true"]
REPO = Path(__file__).resolve().parents[2]


def make_job(sweep: Path, num: int, model: str, loss: str, seed: int, psnr: dict[str, float] | None,
             ssim: dict[str, float] | None = None, status: str = "ok", weights: str = "scratch") -> Path:
    """A job dir as a finished job leaves it: ``job_status.json``, ``metrics.json`` and (unless ``psnr`` is None)
    ``test_images.csv`` with one row per image id, in the dict's order. SSIM defaults to 0.5 for every image, AuC to
    0.8, CF to psnr + 10; the gray floor is psnr 15, ssim 0.4, auc 0.6, cf 0."""
    d = sweep / str(num)
    d.mkdir(parents=True)
    st = {"status": status, "model": model, "loss": loss, "seed": seed, "encoder_weights": weights,
          "overrides": [f"model={model}", f"loss={loss}", f"seed={seed}"], "wall_time_s": 2.0}
    if status != "ok":
        st["error"] = "RuntimeError: [rank 1] boom"
    elif psnr is not None:
        ssim = ssim or dict.fromkeys(psnr, 0.5)
        with (d / "test_images.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for image, p in psnr.items():
                w.writerow([image, p, 15.0, ssim[image], 0.4, 0.8, 0.6, p + 10, 0.0, 30.0])
        st["test_images"] = str(d / "test_images.csv")
        n = len(psnr)
        st["metrics"] = {"test/psnr": sum(psnr.values()) / n, "test/ssim": sum(ssim.values()) / n,
                         "test/auc": 0.8, "test/cf": sum(psnr.values()) / n + 10, "test/dcf": float(seed),
                         "test/psnr_gray": 15.0, "test/dcf_gray": 30.0}
        (d / "metrics.json").write_text(json.dumps(st["metrics"]))
    (d / "job_status.json").write_text(json.dumps(st))
    return d


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def two_by_two(tmp_path: Path) -> Path:
    """vanilla and unet (loss l1), seeds 1 and 2, images a and b; the baseline's rows stored in reverse order."""
    make_job(tmp_path, 0, "vanilla", "l1", 1, {"b": 21.0, "a": 20.0}, ssim={"b": 0.6, "a": 0.5})
    make_job(tmp_path, 1, "vanilla", "l1", 2, {"b": 23.0, "a": 22.0}, ssim={"b": 0.6, "a": 0.5})
    make_job(tmp_path, 2, "unet", "l1", 1, {"a": 21.0, "b": 23.0}, ssim={"a": 0.4, "b": 0.5})
    make_job(tmp_path, 3, "unet", "l1", 2, {"a": 25.0, "b": 27.0}, ssim={"a": 0.3, "b": 0.4})
    return tmp_path


def test_two_models_two_seeds_give_two_rows_with_the_enumerated_intervals(two_by_two):
    # Resampling 2 seeds x 2 images gives 16 equally likely tables; the smallest and the largest mean each have
    # probability 1/16 > 2.5%, so every 95% percentile interval below is [min, max] of its table.
    summary = summarize(two_by_two, show=False)
    assert [(g["model"], g["loss"], g["n_seeds"], g["n_images"]) for g in summary.groups] == [
        ("vanilla", "l1", 2, 2), ("unet", "l1", 2, 2)]
    vanilla, unet = summary.groups
    assert (vanilla["psnr"], vanilla["psnr_ci_low"], vanilla["psnr_ci_high"]) == (21.5, 20.0, 23.0)
    assert (unet["psnr"], unet["psnr_ci_low"], unet["psnr_ci_high"]) == (24.0, 21.0, 27.0)
    # Paired by seed and image id: unet - vanilla = [[1, 2], [3, 4]] (seed 1: a, b; seed 2: a, b) -> [1, 4]. An
    # unpaired comparison would span 21 - 23 = -2 to 27 - 20 = 7 and could not call it.
    d = "Δpsnr_vs_vanilla"
    assert (unet[d], unet[f"{d}_ci_low"], unet[f"{d}_ci_high"]) == (2.5, 1.0, 4.0)
    assert unet["verdict"] == "better"
    # SSIM differences [[-0.1, -0.1], [-0.2, -0.2]]: worse; AuC equal everywhere: no clear difference.
    assert unet["Δssim_vs_vanilla"] == pytest.approx(-0.15)
    assert unet["Δssim_vs_vanilla_ci_high"] == pytest.approx(-0.1)
    assert (unet["verdict_ssim"], unet["verdict_auc"]) == ("worse", "no clear difference")
    assert unet["Δcf_vs_vanilla"] == pytest.approx(2.5)  # reported, but no verdict on colourfulness
    assert (unet["paired_seeds"], unet["paired_images"]) == (2, 2)
    assert vanilla["verdict"] == "baseline" and vanilla["Δpsnr_vs_vanilla"] is None
    # The gray floor per image, dCF as a plain mean over seeds (1 and 2) without an interval.
    assert (unet["psnr_gray"], unet["dcf"], unet["encoder_weights"], unet["seeds"]) == (15.0, 1.5, "scratch", "1 2")


def test_summary_files_carry_the_group_table_and_the_job_table(two_by_two):
    summarize(two_by_two, show=False)
    groups = _read(two_by_two / "summary.csv")
    assert len(groups) == 2
    for col in ("n_seeds", "n_images", "psnr_ci_low", "psnr_ci_high", "verdict", "verdict_ssim", "verdict_auc"):
        assert col in groups[0], col
    assert (groups[1]["n_seeds"], float(groups[1]["psnr_ci_low"]), float(groups[1]["psnr_ci_high"])) == (
        "2", 21.0, 27.0)
    assert groups[1]["verdict"] == "better"
    jobs = _read(two_by_two / "jobs.csv")
    assert [(j["job"], j["seed"], j["encoder_weights"]) for j in jobs] == [
        ("0", "1", "scratch"), ("1", "2", "scratch"), ("2", "1", "scratch"), ("3", "2", "scratch")]
    # The job table pairs each job with the baseline job of its seed: 22 - 20.5 and 26 - 22.5.
    assert [float(j["Δpsnr_vs_vanilla"]) for j in jobs[2:]] == [1.5, 3.5]
    md = (two_by_two / "summary.md").read_text()
    models, jobs_md = md.split("## Jobs")
    assert "24.00 [21.00, 27.00]" in models and "+2.50 [+1.00, +4.00]" in models
    assert "better" in models and "| seeds | images |" in models
    assert "95% CI" in models
    assert jobs_md.count("\n| ") == 1 + 4  # header + one line per job


def test_pairing_uses_image_ids_and_only_shared_seeds_and_images(tmp_path):
    # The baseline has an extra image (c) and an extra seed (3); its rows are in another order. Pairs: seed 1 and
    # 2, images a and b only.
    make_job(tmp_path, 0, "vanilla", "l1", 1, {"c": 99.0, "b": 21.0, "a": 20.0})
    make_job(tmp_path, 1, "vanilla", "l1", 2, {"a": 22.0, "c": 99.0, "b": 23.0})
    make_job(tmp_path, 2, "vanilla", "l1", 3, {"a": 0.0, "b": 0.0, "c": 0.0})
    make_job(tmp_path, 3, "unet", "l1", 1, {"a": 21.0, "b": 23.0})
    make_job(tmp_path, 4, "unet", "l1", 2, {"a": 25.0, "b": 27.0})
    vanilla, unet = summarize(tmp_path, show=False).groups
    assert (vanilla["n_seeds"], vanilla["n_images"]) == (3, 3)
    assert (unet["paired_seeds"], unet["paired_images"]) == (2, 2)
    assert (unet["Δpsnr_vs_vanilla"], unet["Δpsnr_vs_vanilla_ci_low"], unet["Δpsnr_vs_vanilla_ci_high"]) == (
        2.5, 1.0, 4.0)


def test_one_seed_still_gets_intervals_over_images(tmp_path):
    # One seed is not resampled; two images resample to means a, (a+b)/2, b with 1/4, 1/2, 1/4: [a, b].
    make_job(tmp_path, 0, "vanilla", "l1", 7, {"a": 10.0, "b": 14.0})
    make_job(tmp_path, 1, "unet", "l1", 7, {"a": 12.0, "b": 18.0})
    vanilla, unet = summarize(tmp_path, show=False).groups
    assert (unet["n_seeds"], unet["n_images"], unet["psnr"], unet["psnr_ci_low"], unet["psnr_ci_high"]) == (
        1, 2, 15.0, 12.0, 18.0)
    assert (unet["Δpsnr_vs_vanilla_ci_low"], unet["Δpsnr_vs_vanilla_ci_high"], unet["verdict"]) == (2.0, 4.0, "better")


def test_failed_job_and_old_jobs_without_per_image_files(tmp_path, capsys):
    make_job(tmp_path, 0, "vanilla", "l1", 1, None)  # a sweep from before test_images.csv: means only
    make_job(tmp_path, 1, "vanilla", "l1", 2, None)
    make_job(tmp_path, 2, "unet", "l1", 1, None)
    make_job(tmp_path, 3, "unet", "l1", 2, None, status="failed")
    for job, psnr in (("0", 20.0), ("1", 22.0), ("2", 25.0)):  # metrics only in the status file, as before
        st = json.loads((tmp_path / job / "job_status.json").read_text())
        st["metrics"] = {"test/psnr": psnr, "test/ssim": 0.5, "test/psnr_gray": 15.0, "test/dcf": 3.0}
        (tmp_path / job / "job_status.json").write_text(json.dumps(st))
    summary = summarize(tmp_path, show=True)
    vanilla, unet = summary.groups
    assert (vanilla["n_seeds"], vanilla["psnr"], vanilla["psnr_ci_low"], vanilla["n_images"]) == (2, 21.0, None, None)
    assert (unet["n_seeds"], unet["n_failed"], unet["psnr"]) == (1, 1, 25.0)
    assert (unet["Δpsnr_vs_vanilla"], unet["Δpsnr_vs_vanilla_ci_low"], unet["verdict"]) == (4.0, None, None)
    row = _read(tmp_path / "summary.csv")[1]
    assert (row["psnr"], row["psnr_ci_low"], row["psnr_ci_high"], row["verdict"]) == ("25.0", "", "", "")
    assert [j["status"] for j in _read(tmp_path / "jobs.csv")] == ["ok", "ok", "ok", "failed"]
    out = capsys.readouterr().out
    assert "job 3 failed" in out and "RuntimeError: [rank 1] boom" in out  # brackets shown, not read as markup


def test_an_unreadable_per_image_file_falls_back_to_the_means(tmp_path, caplog):
    make_job(tmp_path, 0, "vanilla", "l1", 1, {"a": 10.0, "b": 14.0})
    (tmp_path / "0" / "test_images.csv").write_text("not,a,table\n1,2,3\n")
    vanilla = summarize(tmp_path, show=False).groups[0]
    assert (vanilla["n_seeds"], vanilla["psnr"], vanilla["psnr_ci_low"]) == (1, 12.0, None)
    assert "unreadable" in caplog.text


@pytest.mark.slow  # a subprocess for the module form
def test_main_rebuilds_the_files_in_process_and_as_a_module(two_by_two):
    assert main([str(two_by_two), "--quiet"]) == 0
    first = {name: (two_by_two / name).read_text() for name in ("summary.csv", "jobs.csv", "summary.md")}
    for name in first:
        (two_by_two / name).unlink()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    proc = subprocess.run([sys.executable, "-m", "colorization", "summary", str(two_by_two)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "better" in proc.stdout and "vanilla" in proc.stdout and "Conclusion" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100, proc.stdout
    # The fixed RNG: the rebuilt files are the same, byte for byte.
    assert {name: (two_by_two / name).read_text() for name in first} == first
    with pytest.raises(SystemExit) as exc:
        main([str(two_by_two / "missing")])
    assert exc.value.code == 2
