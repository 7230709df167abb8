"""A real SLURM pre-empts a job of a ``ckpt_path=last`` sweep: submitit requeues it, and the requeued run resumes
from the job's ``checkpoints/last.ckpt`` and finishes with every epoch trained once.

The signal is the one the launcher asks SLURM for (``#SBATCH --signal=USR2@<signal_delay_s>`` in submitit's batch
script: at the time limit, and at a pre-emption where the cluster sends user signals), sent the way SLURM sends it:
to the job's steps, not to the batch shell; also with SIGTERM just before it. While the job waits to run again its
``job_status.json`` says ``requeued``. Runs only under ``make test-slurm`` (scripts/test_slurm.sh).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("COLORIZATION_TEST_SLURM"),
                                reason="needs the SLURM cluster of `make test-slurm`")

REPO = Path(__file__).resolve().parents[3]
EPOCHS = 6
# One task on the CPU; last.ckpt after every epoch (conf/callbacks/default.yaml: last_checkpoint), the other
# callbacks that cost time off, and a pause as each epoch starts so the signal lands inside an epoch.
SETTINGS = ["trainer=cpu", "model=unet", "model.width=8", "model.encoder=resnet18", "model.pretrained=false",
            "data.image_size=32", "data.sample.crops_per_photo=4", "data.batch_size=4",
            f"trainer.max_epochs={EPOCHS}", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
            "+trainer.limit_test_batches=1", "logger=csv", "++callbacks.rich_progress_bar=null",
            "++callbacks.rich_model_summary=null", "++callbacks.sample_grid=null",
            "++callbacks.test_images_table=null", "+callbacks.slow_epochs._target_=support.slow_epochs.SleepEachEpoch",
            "+callbacks.slow_epochs.seconds=2"]
LAUNCHER = ["hydra/launcher=slurm", "hydra.launcher.max_num_timeout=2", "hydra.launcher.gpus_per_node=null",
            "hydra.launcher.cpus_per_task=1",
            # Long enough that submitit reads the signal as a pre-emption, not as the time limit coming.
            "hydra.launcher.timeout_min=30"]


def _wait_for(what: str, found, proc: subprocess.Popen, logs: Path, timeout_s: float, poll_s: float = 0.2):
    """``found()``'s first truthy value, polled every ``poll_s``; fails with the sweep's output when the sweep
    ends first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if proc.poll() is not None:
            break
        time.sleep(poll_s)
    pytest.fail(f"{what}: not seen (sweep exit {proc.poll()})\n{_tail(logs)}")


def _tail(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*")))


def _one(paths: list[Path]) -> Path | None:
    return paths[0] if len(paths) == 1 else None


def _status(job_dir: Path) -> dict | None:
    try:
        return json.loads((job_dir / "job_status.json").read_text())
    except (OSError, ValueError):
        return None


@pytest.mark.timeout(600)
# The warning signal alone (the time limit coming, or a pre-emption on a cluster that sends user signals), and
# SIGTERM just before it (how submitit's own test helper, SlurmJob._interrupt, fakes a pre-emption).
@pytest.mark.parametrize("term_first", [False, True], ids=["signal", "sigterm-then-signal"])
def test_a_preempted_job_is_requeued_and_resumes_from_its_last_checkpoint(tmp_path, term_first):
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "COLORIZATION_HOME": str(tmp_path),
           # The test-only callback lives with the tests; the SLURM job imports it from there.
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))}
    for name in ("LOCAL_RANK", "WORLD_SIZE", "SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID"):
        env.pop(name, None)
    cmd = [sys.executable, str(REPO / "train.py"), "-m", *LAUNCHER, "ckpt_path=last", *SETTINGS]
    with (logs / "sweep.out").open("w") as out, (logs / "sweep.err").open("w") as err:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=err)
        try:
            signal_name = _preempt_after_first_epoch(tmp_path, proc, logs, term_first)
            proc.wait(timeout=400)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    sweep = _one(sorted((tmp_path / "multirun").glob("*/*")))
    assert sweep is not None and proc.returncode == 0, _tail(logs)
    job = sweep / "0"

    # The requeued run finished the job: ok, every epoch.
    status = _status(job)
    assert (status["status"], status["epochs"]) == ("ok", EPOCHS), status
    assert status["requeue"] is None and status["error"] is None, status
    # It started again (two job starts in the job's log) and resumed after an epoch of the first run.
    log = (job / "train.log").read_text()
    first_run, second_run = log.split("job start: rank 0")[1:]
    assert f"resuming from {job / 'checkpoints' / 'last.ckpt'}" in second_run
    first_epochs = [int(n) for n in re.findall(r"training epoch (\d+) starts", first_run)]
    resumed_epochs = [int(n) for n in re.findall(r"training epoch (\d+) starts", second_run)]
    assert resumed_epochs[0] > 0, log
    assert resumed_epochs == list(range(resumed_epochs[0], EPOCHS)), log
    assert first_epochs[-1] >= resumed_epochs[0], "the first run was stopped inside the epoch the second redid"
    # One row of validation metrics per epoch: the resumed CSV log kept the first run's epochs and added the rest.
    rows = list(csv.DictReader((job / "csv" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows if r.get("val/psnr")] == list(range(EPOCHS)), rows

    # submitit read the signal as a pre-emption and requeued the job; SLURM stopped it for that, and counts one
    # restart.
    job_id = _submitit_job_id(sweep)
    submitit_logs = "".join(p.read_text(errors="replace") for p in (sweep / ".submitit").rglob("*.err"))
    assert f"Caught signal SIG{signal_name}" in submitit_logs and "this job is preempted" in submitit_logs
    assert f"JOB {job_id} ON localhost CANCELLED" in submitit_logs and "DUE TO JOB REQUEUE" in submitit_logs
    show = subprocess.run(["scontrol", "-o", "show", "job", job_id.split("_")[0]], capture_output=True, text=True,
                          check=True).stdout
    assert " Restarts=1 " in show, show
    # The sweep's summary has the job ok.
    summary = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [r["status"] for r in summary] == ["ok"], summary


def _submitit_job_id(sweep: Path) -> str | None:
    """The SLURM id of the sweep's one job (submitit's folder ``.submitit/<array id>_<task id>``)."""
    folder = sweep / ".submitit"
    names = [p.name for p in folder.iterdir() if p.name[0].isdigit()] if folder.is_dir() else []
    return names[0] if len(names) == 1 else None


def _preempt_after_first_epoch(home: Path, proc: subprocess.Popen, logs: Path, term_first: bool) -> str:
    """Once the job's ``last.ckpt`` exists, send it SLURM's warning signal (SIGTERM first if ``term_first``); then
    check the status a person polling ``job_status.json`` reads while the job waits to run again. Returns the
    signal's name (``USR2``)."""
    def job_dir() -> Path | None:
        return _one(sorted(home.glob("multirun/*/*/0")))

    def last_ckpt() -> Path | None:
        job = job_dir()
        return job / "checkpoints" / "last.ckpt" if job and (job / "checkpoints" / "last.ckpt").exists() else None

    ckpt = _wait_for("the job's checkpoints/last.ckpt", last_ckpt, proc, logs, timeout_s=300)
    sweep = ckpt.parents[2]
    job_id = _wait_for("submitit's job folder", lambda: _submitit_job_id(sweep), proc, logs, timeout_s=30)
    script = _wait_for("submitit's batch script", lambda: _one(sorted(sweep.glob(".submitit/**/*_submission.sh"))),
                       proc, logs, timeout_s=30).read_text()
    asked = re.search(r"^#SBATCH --signal=(\w+)@(\d+)$", script, re.MULTILINE)
    assert asked, script
    # Without --batch/--full: the job's steps (the srun'd python), as SLURM delivers --signal=<sig>@<time>.
    for name in (["TERM"] if term_first else []) + [asked.group(1)]:
        subprocess.run(["scancel", f"--signal={name}", job_id], check=True, timeout=30)

    # While the job waits to run again it is "requeued", not a failure. The error says what stopped this run:
    # submitit's sys.exit(-1) after its requeue, or (usually first) the SIGTERM SLURM sends the requeued job.
    def stopped() -> dict | None:  # the status says `running` from the job's start until it ends
        status = _status(sweep / "0")
        return status if status and status["status"] != "running" else None

    interim = _wait_for("the first run's job_status.json", stopped, proc, logs, timeout_s=120)
    assert interim["status"] == "requeued", interim
    assert interim["requeue"] == f"SLURM job {job_id} requeued (restart 1)", interim
    assert interim["error"] in ("terminated by SIGTERM", "SystemExit: -1"), interim
    return asked.group(1)
