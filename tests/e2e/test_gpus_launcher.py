"""``hydra/launcher=gpus``: a sweep's jobs run at once, one per free GPU, scheduled by Ray. Two logical GPUs declared
on a machine without any (``hydra.launcher.num_gpus=2``) make the scheduling run, and be checked, on the CPU."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.test_termination import LONG, _signal_after_first_epoch, _start
from tests.support.entry_points import REPO, TINY, only_dir, read_json, run_entry

pytest.importorskip("hydra_plugins.hydra_ray_launcher")


def _intervals(jobs: list[dict]) -> list[tuple[datetime, datetime, str]]:
    """(start, end, visible_devices) of each job, from its ``job_status.json``."""
    return [(datetime.fromisoformat(j["started_at"]), datetime.fromisoformat(j["ended_at"]), j["visible_devices"])
            for j in jobs]


def _most_at_once(intervals: list[tuple[datetime, datetime, str]]) -> int:
    """The most jobs running at one moment (a job's start counted before another's end at the same instant)."""
    events = sorted([(s, 1) for s, _, _ in intervals] + [(e, -1) for _, e, _ in intervals], key=lambda x: (x[0], -x[1]))
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def _sweep(tmp_path: Path, sample_data_dir: Path, *overrides: str, check: bool = True):
    """``train.py -m hydra/launcher=gpus`` on 2 logical GPUs; returns (the finished process, its sweep dir)."""
    proc = run_entry("train.py", ["-m", "hydra/launcher=gpus", "hydra.launcher.num_gpus=2", "model=vanilla",
                                  "logger=csv", *overrides, *TINY], tmp_path, sample_data_dir, check=check)
    return proc, only_dir(tmp_path / "multirun")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_four_jobs_on_two_logical_gpus_run_two_at_a_time(tmp_path: Path, sample_data_dir: Path) -> None:
    """Each job gets one GPU of its own (CUDA_VISIBLE_DEVICES "0" or "1"), two run at once, never two on one GPU
    at once, and the sweep summary covers every job."""
    _, sweep = _sweep(tmp_path, sample_data_dir, "seed=1,2,3,4")
    jobs = [read_json(sweep / str(n) / "job_status.json") for n in range(4)]
    assert [j["status"] for j in jobs] == ["ok"] * 4
    intervals = _intervals(jobs)
    assert {gpu for _, _, gpu in intervals} == {"0", "1"}, "each job sees exactly one of the two GPUs"
    for i, (s1, e1, gpu1) in enumerate(intervals):
        assert s1 < e1
        for s2, e2, gpu2 in intervals[i + 1:]:
            if gpu1 == gpu2:
                assert e1 <= s2 or e2 <= s1, f"two jobs on GPU {gpu1} at once"
    assert _most_at_once(intervals) == 2, "two jobs at once, never more"
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [(r["seed"], r["status"]) for r in rows] == [("1", "ok"), ("2", "ok"), ("3", "ok"), ("4", "ok")]
    assert all(float(r["test/psnr"]) > 0 for r in rows)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_failed_job_frees_its_gpu_and_the_sweep_goes_on(tmp_path: Path, sample_data_dir: Path) -> None:
    # The middle job gets a negative learning rate: torch refuses it when fit builds the optimizer.
    proc, sweep = _sweep(tmp_path, sample_data_dir, "optimizer.lr=0.001,-1,0.002", check=False)
    assert proc.returncode == 1, "a sweep with a failed job exits non-zero, after the summary"
    # The driver's last line (Hydra's console log is stdout; Ray's processes may print a warning on stderr).
    assert proc.stdout.strip().splitlines()[-1].endswith("1 of 3 jobs failed (job 1)"), proc.stdout[-2000:]
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "learning rate" in rows[1]["error"].lower()
    failed = read_json(sweep / "1" / "job_status.json")
    assert failed["visible_devices"] in ("0", "1") and failed["started_at"] < failed["ended_at"]
    assert (sweep / "2" / "metrics.json").exists()


def _ray_processes_of(driver_pid: int) -> list[int]:
    """Pids of the live processes of the Ray session a driver started: Ray names the session after the driver's
    pid (``session_<date>_<time>_<microseconds>_<pid>``), and every process of it has that name in its arguments."""
    session = re.compile(rf"session_[0-9_-]+_{driver_pid}\b".encode())
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if session.search(cmdline.read_bytes()):
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue  # it ended while we looked
    return pids


def _assert_ray_session_gone(driver_pid: int, within_s: float = 15) -> None:
    deadline = time.monotonic() + within_s
    while (left := _ray_processes_of(driver_pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:  # this test's own leftovers: end them, then fail
        os.kill(pid, signal.SIGKILL)
    assert not left, f"Ray processes of the sweep still running {within_s} s after it exited: {left}"


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_every_job_writes_the_summary_and_leaves_no_ray_process(
        tmp_path: Path, sample_data_dir: Path, signum: signal.Signals) -> None:
    """SIGTERM (``kill``, a scheduler) or SIGINT to the driver once the first job trains: the sweep exits
    128 + signum, the jobs that had started are terminated, the queued ones not_run, the summary is written, and
    Ray's processes are gone."""
    sweep = tmp_path / "sweep"
    # Four long jobs on two GPUs: two train, two wait in Ray's queue when the signal comes.
    proc = _start(["-m", "hydra/launcher=gpus", "hydra.launcher.num_gpus=2", *LONG, "logger=csv", "seed=1,2,3,4",
                   f"hydra.sweep.dir={sweep}"], tmp_path, sample_data_dir)
    out = _signal_after_first_epoch(proc, sweep / "0", signum)
    assert proc.returncode == 128 + signum, out[-3000:]
    assert f"sweep stopped by {signum.name}" in out
    jobs = [read_json(sweep / str(n) / "job_status.json") for n in range(4)]
    assert (jobs[0]["status"], jobs[0]["error"]) == ("terminated", f"terminated by {signum.name}")
    assert {j["status"] for j in jobs} <= {"ok", "terminated", "not_run"}
    for n, job in enumerate(jobs):
        if job["status"] == "not_run":
            assert f"stopped by {signum.name}" in job["error"] and not (sweep / str(n) / "checkpoints").exists()
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [(r["seed"], r["status"]) for r in rows] == [(str(n + 1), j["status"]) for n, j in enumerate(jobs)]
    groups = list(csv.DictReader((sweep / "summary.csv").open()))
    stopped = sum(j["status"] != "ok" for j in jobs)
    assert stopped >= 1 and [(g["model"], g["n_stopped"]) for g in groups] == [("vanilla", str(stopped))]
    _assert_ray_session_gone(proc.pid)


def _wait_for(path: Path, proc, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} never appeared; exit {proc.returncode}\n{proc.communicate()[0][-4000:]}")
        time.sleep(0.05)


def _resume(sweep: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "colorization", "resume", str(sweep)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _wait_until_gone(pids: list[int], within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.monotonic() < deadline, f"job processes {pids} still running {within_s} s after their driver died"
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_a_gpus_sweep_whose_driver_was_killed_is_finished_by_resume(tmp_path: Path, sample_data_dir: Path) -> None:
    """Two logical GPUs, three jobs: the driver is killed with SIGKILL while jobs 0 and 1 train; Ray's processes go
    with it (a job's worker within seconds: until then a resume refuses, naming it); `colorization resume`
    continues each interrupted job from its checkpoint, keeps any that had finished and runs job 2."""
    sweep = tmp_path / "sweep"
    proc = _start(["-m", "hydra/launcher=gpus", "hydra.launcher.num_gpus=2", *TINY, "model=vanilla", "logger=csv",
                   "trainer.max_epochs=40", "seed=1,2,3", f"hydra.sweep.dir={sweep}"], tmp_path, sample_data_dir)
    _wait_for(sweep / "1" / "checkpoints" / "last.ckpt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    _assert_ray_session_gone(proc.pid, within_s=30)
    before = {n: read_json(sweep / n / "job_status.json") for n in "01"}
    _wait_until_gone([s["pid"] for s in before.values() if s["status"] == "running"])
    # Ray ends an orphaned worker with SIGTERM (the job says terminated) or SIGKILL (it still says running); one
    # that finished its job first says ok.
    killed = {n: read_json(sweep / n / "job_status.json") for n in "01"}
    interrupted = {n for n, s in killed.items() if s["status"] in ("running", "terminated")}
    assert interrupted, f"the kill interrupted no job: {killed}"
    finished = {n: (sweep / n / "metrics.json").read_bytes() for n, s in killed.items() if s["status"] == "ok"}
    out = _resume(sweep).stdout
    jobs = [read_json(sweep / n / "job_status.json") for n in "012"]
    assert [(j["status"], j["seed"]) for j in jobs] == [("ok", 1), ("ok", 2), ("ok", 3)]
    for n, status in killed.items():
        if n in interrupted:
            assert f"  job {n} ({status['status']}): resume from " in out
            assert jobs[int(n)]["resumed_from"] == str(sweep / n / "checkpoints" / "last.ckpt")
        else:
            assert (sweep / n / "metrics.json").read_bytes() == finished[n], "a finished job is kept as it was"
    assert jobs[2]["resumed_from"] is None and {j["visible_devices"] for j in jobs} <= {"0", "1"}
    groups = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [(g["n_seeds"], g["seeds"]) for g in groups] == [("3", "1 2 3")]


@pytest.fixture
def two_nodes():
    """A Ray cluster of two nodes on this machine, each with one logical GPU (Ray's own test cluster)."""
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    node = {"num_cpus": 1, "num_gpus": 1, "object_store_memory": 78643200}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_a_two_node_ray_cluster_runs_a_sweep_on_both_nodes_and_resumes_it(tmp_path: Path, sample_data_dir: Path,
                                                                         two_nodes) -> None:
    """Four jobs on a cluster of two nodes with one GPU each: both nodes run jobs (job_status names the node), and
    a sweep there stopped by SIGTERM is finished by `colorization resume` on the same cluster."""
    join = f"hydra.launcher.ray.init.address={two_nodes.address}"
    nodes = {n.node_id for n in two_nodes.list_all_nodes()}
    _, sweep = _sweep_on(tmp_path / "a", sample_data_dir, join, "seed=1,2,3,4")
    jobs = [read_json(sweep / str(n) / "job_status.json") for n in range(4)]
    assert [j["status"] for j in jobs] == ["ok"] * 4
    assert {j["ray_node_id"] for j in jobs} == nodes, "each node ran jobs"
    assert {j["visible_devices"] for j in jobs} == {"0"}, "one GPU per node, each job on its node's"

    stopped = tmp_path / "b" / "sweep"
    (tmp_path / "b").mkdir()
    proc = _start(["-m", "hydra/launcher=gpus", join, *LONG, "logger=csv", "trainer.max_epochs=30", "seed=1,2,3",
                   f"hydra.sweep.dir={stopped}"], tmp_path / "b", sample_data_dir)
    out = _signal_after_first_epoch(proc, stopped / "0", signal.SIGTERM)
    assert proc.returncode == 143, out[-3000:]
    _resume(stopped)
    jobs = [read_json(stopped / n / "job_status.json") for n in "012"]
    assert [j["status"] for j in jobs] == ["ok"] * 3
    assert jobs[0]["resumed_from"] == str(stopped / "0" / "checkpoints" / "last.ckpt")
    assert {j["ray_node_id"] for j in jobs} <= nodes


def _sweep_on(cwd: Path, data_dir: Path, *overrides: str):
    cwd.mkdir()
    proc = run_entry("train.py", ["-m", "hydra/launcher=gpus", "model=vanilla", "logger=csv", *overrides, *TINY],
                     cwd, data_dir)
    return proc, only_dir(cwd / "multirun")


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_a_ddp_job_starts_its_other_rank_from_the_drivers_entry_point(tmp_path: Path, sample_data_dir: Path) -> None:
    """trainer=ddp_sim under hydra/launcher=gpus: the job asks Ray for 2 (logical) GPUs, and its rank 1 re-launches
    train.py (not Ray's worker script, which is __main__ in a Ray task), logging to train_rank1.log in the job dir."""
    _, sweep = _sweep(tmp_path, sample_data_dir, "trainer=ddp_sim", "trainer.max_epochs=1")
    status = read_json(sweep / "0" / "job_status.json")
    assert (status["status"], status["world_size"], status["visible_devices"]) == ("ok", 2, "0,1"), status
    rank1 = (sweep / "0" / "train_rank1.log").read_text()
    assert "job start: rank 1, model vanilla" in rank1 and "DDP rank 1 of 2" in rank1


@pytest.mark.parametrize(("launcher", "line"), [
    ("gpus", "hydra/launcher=gpus: this machine has no GPU (torch sees none): declare logical GPUs for CPU jobs with "
             "hydra.launcher.num_gpus=N trainer.accelerator=cpu, join a Ray cluster with "
             "hydra.launcher.ray.init.address=HOST:6379, or drop hydra/launcher=gpus to run the jobs one after "
             "another"),
    ("slurm", "hydra/launcher=slurm: SLURM is not installed here (no `sbatch` on PATH): start the sweep on a SLURM "
              "login node, or use hydra/launcher=gpus (this machine's GPUs) or the default launcher (one job after "
              "another)")])
def test_a_launcher_this_machine_cannot_run_is_refused_in_one_line(tmp_path, sample_data_dir, monkeypatch, launcher,
                                                                    line):
    """No GPU, no sbatch: one line naming the option and the way out, exit 1, before Ray or submitit start and
    before the sweep dir exists."""
    import shutil

    import torch

    if launcher == "gpus" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    if launcher == "slurm" and shutil.which("sbatch"):
        pytest.skip("this machine has SLURM")
    sweep = tmp_path / "sweep"
    proc = run_entry("train.py", ["-m", f"hydra/launcher={launcher}", "seed=1,2", f"hydra.sweep.dir={sweep}", *TINY],
                     tmp_path, sample_data_dir, check=False)
    assert (proc.returncode, proc.stderr.strip().splitlines()) == (1, [line])
    assert not sweep.exists() and "starting Ray" not in proc.stdout + proc.stderr
