"""The study report's table: gray floor first, one line per job, deltas signed, failures shown."""

from __future__ import annotations

from colorization.runs.study_report import results_table


def _row(model, loss, psnr, delta, status="ok"):
    return {"job": "0", "model": model, "loss": loss, "status": status, "error": "ValueError: x",
            "test/psnr": psnr, "test/ssim": 0.8, "test/cf": 30.0, "test/dcf": 10.0, "test/auc": 0.9,
            "test/psnr_gray": 16.5, "test/ssim_gray": 0.81, "test/dcf_gray": 40.0, "test/auc_gray": 0.85,
            "Δpsnr_vs_vanilla": delta, "Δssim_vs_vanilla": 0.0, "Δdcf_vs_vanilla": -1.0, "Δauc_vs_vanilla": 0.0,
            "wall_time_s": 12.3, "best_ckpt": "x.ckpt"}


def test_table_lines():
    table = results_table([_row("vanilla", "l1", 18.0, 0.0), _row("unet_imagenet", "l1", 19.25, 1.25),
                           _row("unet", "ce", None, None, status="failed")])
    lines = table.splitlines()
    assert len(lines) == 2 + 1 + 3
    assert lines[2].startswith("| *gray baseline") and "16.500" in lines[2] and "40.000" in lines[2]
    assert "| unet_imagenet | l1 | 19.250 |" in lines[4] and "+1.250" in lines[4] and "-1.000" in lines[4]
    assert "failed: ValueError: x" in lines[5]
    assert all(line.count("|") == lines[0].count("|") for line in lines[:5])
