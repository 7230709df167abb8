"""The job table of the sweep summary from job status files: rows, failures, deltas against the Vanilla job of the
same loss; the exit status of the callback. (The group table with intervals: test_sweep_statistics.py.)"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from colorization.reports.sweep_summary import SweepSummaryCallback, collect_rows, summarize


def _job(sweep: Path, num: int, model: str, loss: str, psnr: float | None, status: str = "ok") -> None:
    d = sweep / str(num)
    d.mkdir(parents=True)
    st = {"status": status, "model": model, "loss": loss, "overrides": [f"model={model}", f"loss={loss}"],
          "wall_time_s": 1.5, "best_ckpt": str(d / "checkpoints/best.ckpt")}
    if status == "ok":
        st["metrics"] = {"test/psnr": psnr, "test/ssim": 0.9, "test/cf": 20.0, "test/dcf": 5.0, "test/auc": 0.8,
                         "test/psnr_gray": 20.0}
    else:
        st["error"] = "RuntimeError: boom"
    (d / "job_status.json").write_text(json.dumps(st))


def test_rows_and_deltas_against_vanilla_of_same_loss(tmp_path):
    _job(tmp_path, 0, "vanilla", "l1", 22.0)
    _job(tmp_path, 1, "unet", "l1", 24.5)
    _job(tmp_path, 2, "vanilla", "ce", 21.0)
    _job(tmp_path, 3, "unet", "ce", 20.0)
    _job(tmp_path, 10, "resnet", "mse", 23.0)  # no vanilla with mse: no delta
    rows = collect_rows(tmp_path)
    assert [r["job"] for r in rows] == ["0", "1", "2", "3", "10"]  # numeric order, not "10" < "2"
    by_job = {r["job"]: r for r in rows}
    assert by_job["1"]["Δpsnr_vs_vanilla"] == pytest.approx(2.5)
    assert by_job["3"]["Δpsnr_vs_vanilla"] == pytest.approx(-1.0)
    assert by_job["0"]["Δpsnr_vs_vanilla"] == pytest.approx(0.0)
    assert by_job["10"]["Δpsnr_vs_vanilla"] is None
    assert by_job["1"]["test/psnr_gray"] == 20.0


def test_failed_job_is_a_row_and_files_are_written(tmp_path):
    _job(tmp_path, 0, "vanilla", "l1", 22.0)
    _job(tmp_path, 1, "unet", "l1", None, status="failed")
    (tmp_path / "2" / ".hydra").mkdir(parents=True)  # started, never finished
    summary = summarize(tmp_path, show=False)
    assert [r["status"] for r in summary.jobs] == ["ok", "failed", "incomplete"]
    assert [r["job"] for r in summary.failed] == ["1", "2"]
    assert summary.jobs[1]["error"] == "RuntimeError: boom"
    with (tmp_path / "jobs.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3 and table[1]["status"] == "failed"
    # The group table: one row per configuration; the failed one has no seed that finished.
    with (tmp_path / "summary.csv").open() as f:
        groups = list(csv.DictReader(f))
    assert [(g["model"], g["n_seeds"], g["n_failed"]) for g in groups] == [("vanilla", "1", "0"), ("unet", "0", "1")]
    assert float(groups[0]["psnr"]) == 22.0 and groups[0]["psnr_ci_low"] == ""  # no per-image file: no interval
    md = (tmp_path / "summary.md").read_text()
    models, jobs = md.split("## Jobs")
    assert models.count("\n| ") == 1 + 2 and jobs.count("\n| ") == 1 + 3  # header + one line per group / job
    assert "RuntimeError: boom" in jobs


def test_job_without_status_joins_its_group_by_its_overrides(tmp_path):
    _job(tmp_path, 0, "unet", "l1", 22.0)
    (tmp_path / "1" / ".hydra").mkdir(parents=True)  # killed before it wrote a status file
    (tmp_path / "1" / ".hydra" / "overrides.yaml").write_text("- model=unet\n- loss=l1\n- seed=2\n")
    summary = summarize(tmp_path, show=False)
    assert summary.jobs[1]["overrides"] == "model=unet loss=l1 seed=2" and summary.jobs[1]["seed"] == 2
    assert [(g["model"], g["n_seeds"], g["n_failed"], g["jobs"]) for g in summary.groups] == [("unet", 1, 1, "0 1")]


def test_callback_exits_nonzero_after_writing_when_a_job_failed(tmp_path):
    from omegaconf import OmegaConf

    _job(tmp_path, 0, "vanilla", "l1", 22.0)
    _job(tmp_path, 1, "unet", "l1", None, status="failed")
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    with pytest.raises(SystemExit) as exc:
        SweepSummaryCallback().on_multirun_end(cfg)
    assert exc.value.code == 1
    assert (tmp_path / "summary.md").exists()


def test_error_with_brackets_does_not_break_the_printed_table(tmp_path, capsys):
    _job(tmp_path, 0, "vanilla", "l1", 22.0)
    _job(tmp_path, 1, "unet", "l1", None, status="failed")
    st = tmp_path / "1" / "job_status.json"
    st.write_text(st.read_text().replace("RuntimeError: boom", "RuntimeError: [/tmp/x] gloo [rank 1] closed"))
    summarize(tmp_path, show=True)
    assert "gloo" in capsys.readouterr().out


def test_job_error_line_names_the_root_cause():
    from colorization.runs.job import describe_error

    try:
        try:
            raise TypeError("unet() got an unexpected keyword argument 'x'\nmore")
        except TypeError as inner:
            raise RuntimeError("Error in call to target 'colorization.training.module.ColorizationModule':") from inner
    except RuntimeError as e:
        assert describe_error(e) == "TypeError: unet() got an unexpected keyword argument 'x'"


def test_job_error_line_prefers_the_projects_own_sentence_over_a_librarys_symptom():
    from colorization.models.weights import WeightsUnavailableError
    from colorization.runs.job import describe_error

    try:
        try:
            try:
                raise OSError("offline mode is enabled")
            except OSError as hub:
                raise WeightsUnavailableError("Cannot get weights; train from scratch with model.pretrained=false") \
                    from hub
        except WeightsUnavailableError as ours:
            raise RuntimeError("Error in call to target 'colorization.training.module.ColorizationModule':") from ours
    except RuntimeError as e:
        line = describe_error(e)
    assert line == "WeightsUnavailableError: Cannot get weights; train from scratch with model.pretrained=false"


def test_stopped_jobs_are_rows_but_no_failure_of_their_configuration(tmp_path):
    # A SIGTERM stopped job 1; jobs 2 and 3 never started; job 0 had failed by itself before.
    _job(tmp_path, 0, "vanilla", "l1", None, status="failed")
    _job(tmp_path, 1, "vanilla", "l1", None, status="terminated")
    _job(tmp_path, 2, "unet", "l1", None, status="not_run")
    _job(tmp_path, 3, "unet", "l1", None, status="not_run")
    summary = summarize(tmp_path, show=False)
    assert [r["status"] for r in summary.jobs] == ["failed", "terminated", "not_run", "not_run"]
    assert [(g["model"], g["n_seeds"], g["n_failed"], g["n_stopped"]) for g in summary.groups] == [
        ("vanilla", 0, 1, 1), ("unet", 0, 0, 2)], "a group with no finished job still has its row"
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [(r["model"], r["n_stopped"], r["psnr"]) for r in rows] == [("vanilla", "1", ""), ("unet", "2", "")]
