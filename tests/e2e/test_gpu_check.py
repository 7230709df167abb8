"""``make gpu-check`` on the CPU (--dry-run): the compile fit and the 1/10-scale kaggle_study really train and the
report carries their figures; the GPU-only steps are checked by the command lines they would run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import gpu_check  # noqa: E402
import pytest  # noqa: E402


@pytest.mark.slow  # ~50 s: three train.py processes (CI runs it through make test-slow)
def test_dry_run_trains_both_steps_and_reports_them(tmp_path):
    out = tmp_path / "gpu_results.md"
    res = gpu_check.main(["--dry-run", "--work-dir", str(tmp_path / "work"), "--out", str(out),
                          "--skip", "bench_gpu", "gpus_launcher"])  # bench_gpu's dry run has its own test
    steps = res["steps"]
    assert set(steps) == {"compile_fit", "kaggle_study"}
    assert all(s["rc"] == 0 and not s["timed_out"] and s["wall_s"] > 0 for s in steps.values()), steps
    fit = steps["compile_fit"]["epochs"]
    assert [e["epoch"] for e in fit] == [0, 1] and all(e["images"] == 40 for e in fit)  # 48 - 2 held out, batch 8
    assert all(e["images_per_s"] > 0 for e in fit)
    jobs = steps["kaggle_study"]["jobs"]
    assert [(j["job"], j["status"]) for j in jobs] == [(0, "ok"), (1, "ok")]  # vanilla x {l1, ce}, seed 1
    assert {o for j in jobs for o in j["overrides"] if o.startswith("loss=")} == {"loss=l1", "loss=ce"}
    assert all(len(j["epochs"]) == 2 for j in jobs)
    assert steps["kaggle_study"]["projected_full_s"] > 0
    text = out.read_text()
    assert text.startswith("# GPU check (DRY RUN") and "| compile_fit | 0 |" in text and "| 0 | model=vanilla" in text
    assert json.loads(out.with_suffix(".json").read_text())["steps"]["kaggle_study"]["rc"] == 0


def test_gpu_steps_run_the_documented_commands(tmp_path):
    data = {"fit": tmp_path / "fit", "study": tmp_path / "study"}
    cmds = gpu_check.commands(gpu_check.sizes(False), data, tmp_path / "run", tmp_path, gpus=4, dry_run=False)
    assert list(cmds) == ["bench_gpu", "compile_fit", "kaggle_study", "gpus_launcher"]
    fit = cmds["compile_fit"]
    assert {"trainer=gpu", "module.compile.enabled=true", "data.on_device=true", "data.image_size=224"} <= set(fit)
    study = cmds["kaggle_study"]
    assert {"experiment=kaggle_study", "trainer.max_epochs=2", "hydra.sweeper.params.seed=1"} <= set(study)
    assert gpu_check.sizes(False)["study_images"] == 2500  # 1/10 of the 25,000
    launcher = cmds["gpus_launcher"]
    assert "hydra/launcher=gpus" in launcher and "seed=1,2,3,4,5,6,7,8" in launcher  # two jobs per GPU
    assert sum(gpu_check.sizes(False)["limits"].values()) <= 8 * 60 - 30  # room left to write the data


def test_projection_scales_epochs_and_adds_start_up():
    jobs = [{"wall_s": 30.0, "epochs": [{"epoch_s": 6.0}, {"epoch_s": 4.0}]}]
    # start-up 30 - 10 = 20 s; 20 epochs x 4 s x 10 = 800 s; x 3 seeds
    assert gpu_check.project_study(jobs, 10.0, 2) == 3 * (20 + 800)
    assert gpu_check.project_study([{"wall_s": None, "epochs": []}], 10.0, 2) is None


def test_epoch_clock_waits_for_the_device_only_at_the_ends(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import torch

    syncs = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: syncs.append(1))
    clock = gpu_check.EpochClock(str(tmp_path / "clock.jsonl"), batch_size=8)
    trainer = SimpleNamespace(num_training_batches=50, current_epoch=0)
    clock.on_train_epoch_start(trainer, None)
    for i in range(50):
        clock.on_train_batch_end(trainer, None, None, None, i)
    clock.on_train_epoch_end(trainer, None)
    assert len(syncs) == 4  # epoch start, first batch, last batch, epoch end: not one per batch
    row = gpu_check.read_clock(tmp_path / "clock.jsonl")[0]
    assert row["images"] == 400 and row["images_per_s"] > 0


def test_a_check_cut_short_keeps_the_steps_that_finished(tmp_path, monkeypatch):
    def step(name, cmd, limit_s, env, log_dir):
        if name == "kaggle_study":
            raise KeyboardInterrupt  # the machine taken back mid-step
        return {"name": name, "command": " ".join(cmd), "rc": 0, "wall_s": 12.0, "timed_out": False, "log": "x"}

    monkeypatch.setattr(gpu_check, "run_step", step)
    out = tmp_path / "gpu_results.md"
    with pytest.raises(KeyboardInterrupt):
        gpu_check.main(["--dry-run", "--work-dir", str(tmp_path / "work"), "--out", str(out),
                        "--skip", "bench_gpu", "gpus_launcher"])
    text = out.read_text()
    assert "PARTIAL: steps still to run" in text and "| compile_fit | 0 | 12 |" in text
    assert list(json.loads(out.with_suffix(".json").read_text())["steps"]) == ["compile_fit"]
