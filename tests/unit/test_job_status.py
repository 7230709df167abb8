"""``job_status.json`` as :func:`colorization.runs.job.run_job` writes it, for a job that passes and one that fails:
when it ran (``started_at`` <= ``ended_at``, ISO 8601 in UTC) and on which GPUs (``visible_devices``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from omegaconf import OmegaConf

from colorization.runs.job import STATUS_FILE, run_job


def _cfg(tmp_path):
    return OmegaConf.create({"paths": {"output_dir": str(tmp_path)}, "optimized_metric": "val/psnr"})


def _status(tmp_path) -> dict:
    return json.loads((tmp_path / STATUS_FILE).read_text())


def _times(status: dict) -> tuple[datetime, datetime]:
    start, end = datetime.fromisoformat(status["started_at"]), datetime.fromisoformat(status["ended_at"])
    assert start.utcoffset() == end.utcoffset() == timedelta(0), "UTC, so jobs on other nodes compare"
    return start, end


def test_ok_job_records_its_gpus_and_when_it_ran(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    before = datetime.now().astimezone()
    value = run_job(_cfg(tmp_path), lambda cfg: {"metrics": {"val/psnr": 21.5}})
    after = datetime.now().astimezone()
    status = _status(tmp_path)
    assert (value, status["status"], status["visible_devices"]) == (21.5, "ok", "1")
    start, end = _times(status)
    assert before <= start <= end <= after


def test_failed_job_records_them_too(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def fail(cfg):
        raise ValueError("Invalid learning rate: -1")

    with pytest.raises(ValueError):  # a single run re-raises; the status file is written first
        run_job(_cfg(tmp_path), fail)
    status = _status(tmp_path)
    assert (status["status"], status["error"]) == ("failed", "ValueError: Invalid learning rate: -1")
    assert status["visible_devices"] is None, "unset: the job saw every GPU"
    start, end = _times(status)
    assert start <= end
