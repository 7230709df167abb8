"""The benchmark scripts run end to end at tiny sizes and report what they promise."""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_gpu  # noqa: E402
import bench_train  # noqa: E402
import run_all  # noqa: E402


def test_make_batches_are_uint8_lab_in_memory():
    batches = bench_train.make_batches(3, 2, 16)
    assert len(batches) == 3 and all(b.shape == (2, 3, 16, 16) and str(b.dtype) == "torch.uint8" for b in batches)
    assert int(batches[0].max()) > int(batches[0].min())  # not a constant image


@pytest.mark.slow  # a minute of benchmarks at tiny sizes
def test_run_all_quick_writes_the_ratios(tmp_path, capsys):
    out = tmp_path / "results.json"
    res = run_all.main(["--quick", "--data-dir", str(tmp_path / "data"), "--out", str(out),
                        "--models", "vanilla", "unet-resnet34"])
    saved = json.loads(out.read_text())
    for key in ("framework_overhead_ratio", "data_headroom_ratio", "loader_images_per_s"):
        assert math.isfinite(saved[key]) and saved[key] > 0
        assert saved[key] == pytest.approx(res[key])
    ov = saved["overhead"]
    assert len(ov["round_ratios"]) == ov["rounds"] == 1
    assert saved["framework_overhead_ratio"] == pytest.approx(ov["round_ratios"][0])
    fastest = max(saved["models"].values(), key=lambda m: m["train_images_per_s"])["train_images_per_s"]
    augmented = saved["data"]["runs"][-1]
    assert augmented["normalise"] and augmented["augment"]
    assert saved["data_headroom_ratio"] == pytest.approx(augmented["images_per_s"] / fastest)
    assert set(saved["models"]) == {"vanilla", "unet-resnet34"}
    assert all(m["predict_images_per_s"] > 0 for m in saved["models"].values())
    assert (tmp_path / "data" / "n48_s32" / "done").is_file()  # the Kaggle-layout set it read
    # The ce / l1 training step ratio of each model, beside the others, from alternating rounds.
    assert set(saved["ce_l1_step_ratio"]) == {"vanilla", "unet-resnet34"}
    for name, r in saved["loss_ratio"].items():
        assert len(r["round_ratios"]) == r["rounds"] == 2 and r["steps"] == 2 * 2
        assert saved["ce_l1_step_ratio"][name] == pytest.approx(statistics.median(r["round_ratios"]))
        assert r["ce_step_s"] > 0 and r["l1_step_s"] > 0 and (r["size"], r["batch"]) == (32, 2)
    text = capsys.readouterr().out
    assert "framework overhead (Trainer / bare step)" in text and "<= 1.03" in text and ">= 20x" in text
    assert "ce / l1 train step (vanilla 32px batch 2)" in text and "<= 1.5x" in text


def test_bench_gpu_dry_run_covers_every_mode(tmp_path):
    out = tmp_path / "gpu.md"
    res = bench_gpu.main(["--dry-run", "--out", str(out), "--data-dir", str(tmp_path / "data"),
                          "--models", "vanilla"])  # every code path; the ResNet models only make it slower
    rows = res["models"]
    assert [(r["model"], r["mode"]) for r in rows] == [("vanilla", mode) for mode in bench_gpu.MODES]
    assert all(r["images_per_s"] > 0 and r["step_ms"] > 0 and r["batch"] == 2 for r in rows)
    assert len({r["gflop_per_image"] for r in rows}) == 1 and rows[0]["gflop_per_image"] > 0
    assert {d["path"].split(",")[0] for d in res["data"]} == {"DataLoader", "on_device (data.on_device=true)"}
    assert len(res["profile"]) == 3 and all(0 < p["share"] <= 1 for p in res["profile"])
    text = out.read_text()
    assert text.startswith("# GPU benchmark (DRY RUN") and "| vanilla | project mixed+cl+compile | 2 |" in text
    assert "mixed precision bf16-mixed (as training chooses it)" in text and "PARTIAL" not in text
    assert json.loads(out.with_suffix(".json").read_text())["speedups"]["vanilla"] > 0


def test_bench_gpu_measures_in_the_precision_training_chooses(tmp_path, monkeypatch):
    """A T4 trains in 16-mixed (training.precision): bench_gpu's project modes run in it, and its report says so."""
    seen = []
    monkeypatch.setattr(bench_gpu, "resolve_precision", lambda mode: "16-mixed" if mode == "auto" else mode)
    monkeypatch.setattr(bench_gpu, "project", lambda *a: seen.append(a[-1]) or {"seconds": 1.0, "warmup_s": 0.0})
    monkeypatch.setattr(bench_gpu, "data_paths", lambda args: [])
    res = bench_gpu.main(["--dry-run", "--out", str(tmp_path / "gpu.md"), "--models", "vanilla",
                          "--profile-top", "0"])
    assert res["precision"] == "16-mixed" and seen == ["16-mixed", "16-mixed"]
    assert "mixed precision 16-mixed" in (tmp_path / "gpu.md").read_text()


def test_bench_gpu_keeps_the_rows_of_a_run_cut_short(tmp_path, monkeypatch):
    """Each model's rows are on disk once measured: a run stopped in the second model (a time limit) keeps the
    first model's table."""
    def measure(name, args, peak):
        if name != "vanilla":
            raise KeyboardInterrupt  # what the step's time limit amounts to
        return [{"model": name, "mode": mode, "batch": 2, "step_ms": 1.0, "images_per_s": 10.0 + i,
                 "gflop_per_image": 1.0, "tflops": 0.1, "mfu": None, "peak_mem_gb": None, "warmup_s": 0.5}
                for i, mode in enumerate(bench_gpu.MODES)]

    monkeypatch.setattr(bench_gpu, "measure_model", measure)
    out = tmp_path / "gpu.md"
    with pytest.raises(KeyboardInterrupt):
        bench_gpu.main(["--dry-run", "--out", str(out), "--models", "vanilla", "resnet34"])
    text = out.read_text()
    assert "(PARTIAL: the run stopped before the end)" in text and "| vanilla | project mixed+cl | 2 |" in text
    assert json.loads(out.with_suffix(".json").read_text())["speedups"] == {"vanilla": 12.0 / 10.0}


def test_flop_count_of_the_unet_matches_the_issue():
    import torch

    # U-Net with a ResNet-34 encoder: ~35 GFLOP per 224 px image forward + backward, so ~0.7 at 32 px.
    gflop = bench_gpu.flops_per_image(bench_train.MODELS["unet-resnet34"], 32, torch.device("cpu")) / 1e9
    assert 0.5 < gflop * (224 / 32) ** 2 / 35 < 1.5


def test_card_peaks_pick_the_specific_card_first():
    import torch

    cpu = torch.device("cpu")
    assert bench_gpu.card_peak(cpu, None) == ("CPU (dry run)", None)
    assert bench_gpu.card_peak(cpu, 790.0)[1] == 790.0
    table = dict(bench_gpu.PEAK_BF16_TFLOPS)
    first = lambda name: next(p for k, p in bench_gpu.PEAK_BF16_TFLOPS if k in name)  # noqa: E731
    assert first("NVIDIA H100 80GB HBM3") == table["H100"] == pytest.approx(989.4)
    assert first("NVIDIA H100 PCIe") == 756.0 and first("NVIDIA H200") == table["H200"]


def test_bench_augment_times_both_ways_of_cutting(capsys):
    import bench_augment

    res = bench_augment.main(["--batch", "4", "--sizes", "16", "--repeats", "1"])
    assert [(r["size"], r["mode"]) for r in res["rows"]] == [(16, "slice"), (16, "resample")]
    assert all(r["ms_per_batch"] > 0 for r in res["rows"])
    assert "| 16² |" in capsys.readouterr().out


def test_estimate_memory_adds_the_parts(capsys):
    import estimate_memory

    small, large = (estimate_memory.main(["--models", "vanilla", "--losses", "l1", "--size", "32", "--probe", "1",
                                          "--batch", str(b), "--overhead", "0"])[0] for b in (4, 8))
    per_image = small["activations_mb_per_image"]
    assert per_image > 0 and small["data_gb"] == 3.76 and small["params_m"] > 0
    # Linear in the batch: 4 more images cost 4 x the activations one keeps.
    assert large["estimate_gb"] - small["estimate_gb"] == pytest.approx(4 * per_image / 1000, abs=0.011)
    assert "| vanilla | l1 |" in capsys.readouterr().out
