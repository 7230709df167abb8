"""A real SLURM: a 2-job sweep, 2 DDP tasks (CPU, gloo) per job, through ``hydra/launcher=slurm``.

Runs only under ``make test-slurm`` (scripts/test_slurm.sh starts the cluster and sets COLORIZATION_TEST_SLURM).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("COLORIZATION_TEST_SLURM"),
                                reason="needs the SLURM cluster of `make test-slurm`")

REPO = Path(__file__).resolve().parents[3]
TINY = ["trainer=ddp_sim", "model.width=8", "model.encoder=resnet18", "model.pretrained=false", "data.image_size=32",
        "data.sample.crops_per_photo=4", "data.batch_size=4", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1",
        "logger=csv", "callbacks=none"]


@pytest.mark.timeout(900)  # the sweep itself may take up to 600 s, then SLURM's accounting is polled
def test_sweep_on_slurm_runs_each_job_on_two_tasks(tmp_path):
    assert shutil.which("sacct") and "tests/e2e/slurm/bin" in shutil.which("sacct"), "the sacct shim must come first"
    env = {**os.environ, "COLORIZATION_HOME": str(tmp_path)}
    for name in ("LOCAL_RANK", "WORLD_SIZE", "SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID"):
        env.pop(name, None)
    cmd = [sys.executable, str(REPO / "train.py"), "-m", "hydra/launcher=slurm", "loss=l1,mse",
           "hydra.launcher.gpus_per_node=null", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10",
           "model=unet", *TINY]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    sweeps = sorted((tmp_path / "multirun").glob("*/*"))
    assert len(sweeps) == 1, f"{sweeps}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    sweep = sweeps[0]
    assert proc.returncode == 0, proc.stderr[-4000:]
    for job, loss in (("0", "l1"), ("1", "mse")):
        st = json.loads((sweep / job / "job_status.json").read_text())
        assert (st["status"], st["loss"], st["world_size"], st["num_nodes"]) == ("ok", loss, 2, 1), st
        assert st["metrics"]["test/psnr"] > 5
        log = (sweep / job / "train.log").read_text()
        for rank in (0, 1):  # both srun tasks ran this job, each as its own rank
            assert f"job start: rank {rank}, model unet, loss {loss}" in log
            assert f"DDP rank {rank} of 2" in log
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [r["world_size"] for r in rows] == ["2", "2"]
    # Each job really went through SLURM: submitit's folders carry the SLURM job ids.
    assert list((sweep / ".submitit").iterdir())
    # submitit returns once a job's result file exists; SLURM may still be finishing the job: poll briefly.
    ids = ",".join(p.name for p in (sweep / ".submitit").iterdir() if p.name[0].isdigit())
    for _ in range(60):
        out = subprocess.run(["sacct", "-o", "JobID,State,NodeList", "--parsable2", "-j", ids],
                             capture_output=True, text=True, check=True).stdout
        states = [line.split("|")[1] for line in out.splitlines()[1:] if line]
        if len(states) == 2 and all(st == "COMPLETED" for st in states):
            break
        time.sleep(0.5)
    assert states == ["COMPLETED", "COMPLETED"], out
