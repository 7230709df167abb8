"""W&B never costs a run: asked to go online where W&B does not answer, a run goes on offline with one warning and the
`wandb sync` command; everything it logs, a table's pictures included, lands in its run dir and nowhere under HOME;
a fresh run asks W&B for no resume status.

W&B "does not answer" here as on a machine without network: ``WANDB_BASE_URL`` names a local port nobody listens
on, so the probe is refused at once (``unshare -n`` does the same for api.wandb.ai; see README).
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import numpy as np
import pytest

from colorization.integrations import wandb as wb


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def fresh_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for variable in (*wb.WANDB_FOLDERS, "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(variable, raising=False)
    return home


def _files_under(home: Path) -> list[Path]:
    """The files under ``home``, but matplotlib's font cache (written by whoever first imports matplotlib)."""
    return [p for p in home.rglob("*") if p.is_file() and "matplotlib" not in p.parts]


class _Trainer:
    def __init__(self, logger):
        self.loggers = [logger]


def test_online_without_an_answer_goes_offline_with_one_line_and_keeps_every_file_in_the_run_dir(
        tmp_path, fresh_home, closed_port_url, monkeypatch, caplog):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", closed_port_url)
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger=wb.__name__):
        logger = wb.wandb_logger(str(run_dir), project="colorization", online_wait_s=5)
    try:
        run = logger.experiment
        assert run.offline
        offline_dir = Path(run.dir).parent
        assert offline_dir.parent == run_dir / "wandb" and offline_dir.name.startswith("offline-run-")
        (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warning.startswith(f"W&B is not reachable online ({closed_port_url} is unreachable: URLError): ")
        assert warning.endswith(f"upload it once online with `wandb sync {offline_dir}`")
        assert wb.describe_wandb_runs(_Trainer(logger)) == [
            f"{offline_dir} (offline: upload it with `wandb sync {offline_dir}`)"]
        gray = np.full((6, 5, 3), 90, np.uint8)
        wb.log_test_images_table(_Trainer(logger), ["sample:0"], {"gray": gray[None], "prediction": gray[None] + 7,
                                                                  "truth": gray[None] + 20}, {"psnr": [21.5]})
    finally:
        wb.finish_wandb_run(0)
    assert not _files_under(fresh_home), "W&B wrote under HOME"
    # The table's three pictures are PNG files in the run dir (W&B stages them in its data folder).
    pngs = [p for p in run_dir.rglob("*") if p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"]
    assert len(pngs) == 3 and all(run_dir / "wandb" / "data" in p.parents for p in pngs)


def test_a_fresh_run_asks_for_no_resume_status_and_a_resumed_one_continues_its_id(tmp_path, monkeypatch):
    opened: list[dict] = []

    class _Run:
        id, offline, dir = "x", True, str(tmp_path)

        def define_metric(self, *args, **kwargs):
            pass

    monkeypatch.setattr(wb, "open_wandb_run", lambda init, mode, wait: opened.append(init) or _Run())
    wb.wandb_logger(str(tmp_path), project="p")
    first_id = (tmp_path / "wandb" / wb.RUN_ID_FILE).read_text().strip()
    wb.wandb_logger(str(tmp_path), ckpt_path="last", project="p")
    assert [(o["id"], o["resume"]) for o in opened] == [(first_id, None), (first_id, "allow")]


def _unshare_works() -> bool:
    import subprocess

    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slow  # a train.py process; the fallback itself is tested in process above
@pytest.mark.skipif(not _unshare_works(), reason="needs `unshare -n` (root, or user namespaces)")
def test_train_py_logged_in_without_a_network_ends_ok_offline(tmp_path, sample_data_dir):
    """The real day: `wandb login` done, no network at all (`unshare -n`), W&B's own server."""
    import json
    import os
    import subprocess
    import sys

    from tests.support.entry_points import REPO, TINY

    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "WANDB_MODE": "online", "WANDB_API_KEY": "0" * 40,
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    for variable in (*wb.WANDB_FOLDERS, "WANDB_BASE_URL", "COLORIZATION_HOME"):
        env.pop(variable, None)
    run_dir = tmp_path / "run"
    proc = subprocess.run(["unshare", "-n", sys.executable, str(REPO / "train.py"), "model=vanilla", *TINY,
                           f"paths.data_dir={sample_data_dir}", f"hydra.run.dir={run_dir}"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert json.loads((run_dir / "job_status.json").read_text())["status"] == "ok"
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    assert output.count("W&B is not reachable online (https://api.wandb.ai is unreachable") == 1
    assert f"upload it once online with `wandb sync {offline}`" in output
    assert not _files_under(home)
