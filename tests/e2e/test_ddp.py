"""DDP inside Hydra multirun (``trainer=ddp_sim``: 2 gloo processes on the CPU, the real re-launch path).

The sweeps run ``train.py`` in a subprocess from a temp dir, with a ``--config-dir`` of tiny cases (which also
proves that the children get the config-location arguments).
"""

from __future__ import annotations

import csv
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = ["trainer=ddp_sim", "model.width=8", "data.image_size=32", "data.sample.crops_per_photo=4",
        "data.batch_size=4", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "logger=csv", "callbacks=none"]
CASES = {
    "a": "model: vanilla\n  - override /loss: l1",
    "b": "model: unet\n  - override /loss: l1",
    "c": "model: vanilla\n  - override /loss: mse",
    "fail": "model: vanilla\n  - override /loss: l1",
}
# A sweep asked for by a config, as experiment=seed_study does: the children must still run single jobs.
SWEEP = "# @package _global_\nhydra:\n  mode: MULTIRUN\n  sweeper:\n    params:\n      +case: {}\n"


def _config_dir(root: Path) -> Path:
    conf = root / "extra_conf"
    (conf / "case").mkdir(parents=True)
    (conf / "experiment").mkdir()
    (conf / "experiment" / "three.yaml").write_text(SWEEP.format("a,b,c"))
    (conf / "experiment" / "fail_then_b.yaml").write_text(SWEEP.format("fail,b"))
    for name, body in CASES.items():
        text = f"# @package _global_\ndefaults:\n  - override /{body}\n"
        if name == "b":
            text += "model:\n  encoder: resnet18\n  pretrained: false\n"
        if name == "fail":  # rank 1 raises as training starts; rank 0 trains on
            text += "callbacks:\n  fault:\n    _target_: support.fault.RaiseOnRank\n    rank: 1\n"
        (conf / "case" / f"{name}.yaml").write_text(text)
    return conf


def _sweep(tmp: Path, args: list[str], timeout: float = 300,
           data_dir: Path | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "COLORIZATION_HOME": str(tmp),
           # Test-only code (the fault injector) lives with the tests; every rank imports it from there.
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))}
    env.pop("LOCAL_RANK", None)
    cmd = [sys.executable, str(REPO / "train.py"), "--config-dir", str(_config_dir(tmp)), *args, *TINY,
           *([f"paths.data_dir={data_dir}"] if data_dir else [])]
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
    sweeps = sorted((tmp / "multirun").glob("*/*"))
    assert len(sweeps) == 1, f"expected one sweep dir, got {sweeps}\n{proc.stderr[-3000:]}"
    return proc, sweeps[0]


def _strays(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker`` (our temp dir)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                cmdline = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                out.append(cmdline)
    return out


def _status(job: Path) -> dict:
    return json.loads((job / "job_status.json").read_text())


# ---------------------------------------------------------------- pure parts


def test_config_arguments_both_spellings():
    from colorization.distributed.command import config_arguments

    argv = ["-m", "model=a,b", "--config-dir", "/x", "-cn=train", "--config-path", "/c", "seed=1"]
    assert config_arguments(argv) == ["--config-dir", "/x", "-cn=train", "--config-path", "/c"]


@pytest.mark.parametrize("override, sweep", [
    ("hydra.mode=MULTIRUN", True), ("hydra.sweep.dir=/x", True), ("hydra/launcher=slurm", True),
    ("hydra.launcher.timeout_min=5", True), ("+hydra.job.num=3", True), ("hydra.job.chdir=true", False),
    ("hydra/job_logging=disabled", False), ("hydra.verbose=true", False)])
def test_sweep_overrides_are_dropped(override, sweep):
    from colorization.distributed.command import is_sweep_override

    assert is_sweep_override(override) is sweep


def test_child_command_is_a_single_run_of_this_job():
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    import colorization.config  # noqa: F401 - the config's resolvers
    from colorization.distributed.command import child_command

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["model=vanilla", "seed=3"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = "/out/sweep/3"
        cfg.hydra.runtime.cwd = "/work dir"
        cfg.hydra.job.num = 3
        cfg.hydra.job.name = "train"
        cfg.hydra.job.id = "7_3"
        cfg.hydra.overrides.hydra = ["hydra.mode=MULTIRUN", "hydra.verbose=true", "hydra/launcher=slurm"]
    HydraConfig.instance().set_config(cfg)
    try:
        command, cwd = child_command(1, argv=["-m", "--config-dir", "/extra", "model=vanilla,unet", "seed=3"])
    finally:
        HydraConfig.instance().cfg = None
    assert cwd == "/work dir"
    assert command[-11:] == ["--config-dir", "/extra", "model=vanilla", "seed=3", "hydra.verbose=true",
                           "hydra.mode=RUN", "hydra.run.dir='/out/sweep/3'", "hydra.job.name='train_rank1'",
                           "hydra.output_subdir=null", "hydra.job.num=3", "hydra.job.id='7_3'"]


def test_lightning_private_launcher_api_is_what_we_subclass():
    """The launcher subclasses private Lightning API; this fails first when an upgrade changes it."""
    import lightning
    from lightning.fabric.plugins.environments import LightningEnvironment
    from lightning.pytorch.strategies import DDPStrategy
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    from colorization.distributed import JobDDPStrategy
    from colorization.distributed.launcher import JobScriptLauncher

    assert lightning.__version__.startswith("2.6."), "re-check colorization/distributed/launcher.py, then the pin"
    assert list(inspect.signature(_SubprocessScriptLauncher.__init__).parameters) == [
        "self", "cluster_environment", "num_processes", "num_nodes"]
    assert hasattr(_SubprocessScriptLauncher, "_check_can_spawn_children")
    assert "trainer" in inspect.signature(_SubprocessScriptLauncher.launch).parameters
    assert "_configure_launcher" in vars(DDPStrategy)
    # Whether children were started is read from LOCAL_RANK: what the job boundary must restore.
    env = LightningEnvironment()
    os.environ.pop("LOCAL_RANK", None)
    assert not env.creates_processes_externally
    strategy = JobDDPStrategy(timeout_s=7, process_group_backend="gloo")
    assert strategy._timeout.total_seconds() == 7 and strategy._start_method == "popen"
    strategy.cluster_environment = env
    strategy.parallel_devices = [None, None]
    strategy._configure_launcher()
    assert isinstance(strategy._launcher, JobScriptLauncher) and strategy._launcher.num_processes == 2


def test_job_boundary_restores_env_and_destroys_process_group(monkeypatch):
    import torch
    import torch.distributed as dist

    from colorization.distributed import job_boundary

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    threads = torch.get_num_threads()
    with job_boundary() as b:
        os.environ.update(LOCAL_RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="29511")
        torch.set_num_threads(1)
        dist.init_process_group("gloo", rank=0, world_size=1, init_method="tcp://127.0.0.1:29511")
    assert b.world_size == 2
    assert "LOCAL_RANK" not in os.environ and "MASTER_PORT" not in os.environ
    assert not dist.is_initialized()
    assert torch.get_num_threads() == threads


def test_watchdog_stops_siblings_of_a_failed_child():
    from colorization.distributed import ChildWatchdog

    bad = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    called = []
    start = time.time()
    dog = ChildWatchdog([bad, sleeper], poll_s=0.2, grace_s=2, on_failure=lambda: called.append(1))
    dog.start()
    dog.join(timeout=20)
    assert not dog.is_alive() and time.time() - start < 10
    assert dog.failed == [(1, 3)] and called == [1]
    assert sleeper.poll() is not None  # stopped and reaped


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux only")
def test_children_die_with_their_parent(tmp_path):
    """A rank started by the launcher is SIGKILLed by the kernel when rank 0 dies (no orphan holding a port)."""
    pid_file = tmp_path / "child.pid"
    parent_code = (
        "import os, subprocess, sys, time\n"
        "from colorization.distributed.launcher import _die_with_parent\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " preexec_fn=_die_with_parent(os.getpid()))\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=REPO)
    for _ in range(300):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    for _ in range(50):
        try:
            state = Path(f"/proc/{child}/stat").read_text().split()[2]
        except OSError:
            break  # gone (reaped by init)
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} outlived its parent")


# ---------------------------------------------------------------- real sweeps


def _assert_ranks_trained(job: Path, model: str, loss: str) -> None:
    st = _status(job)
    assert (st["status"], st["model"], st["loss"], st["world_size"]) == ("ok", model, loss, 2), st
    for log_name, rank in (("train.log", 0), ("train_rank1.log", 1)):
        text = (job / log_name).read_text()
        assert f"job start: rank {rank}, model {model}, loss {loss}, dir {job}" in text
        assert f"DDP rank {rank} of 2" in text and f"job done: rank {rank}, model {model}" in text
    assert (job / "metrics.json").exists()


@pytest.mark.slow
def test_failure_on_rank_one_fails_that_job_only(tmp_path, sample_data_dir):
    """A sweep asked for by a config: job 0 fails on rank 1 (and only that job), job 1 trains on both ranks."""
    start = time.time()
    proc, sweep = _sweep(tmp_path, ["experiment=fail_then_b"], data_dir=sample_data_dir)
    assert proc.returncode == 1, proc.stderr[-3000:]  # the summary reports the failed job in the exit status
    failed = _status(sweep / "0")
    assert failed["status"] == "failed" and failed["wall_time_s"] < 60, failed
    assert "injected failure on rank 1" in (sweep / "0" / "train_rank1.log").read_text()
    _assert_ranks_trained(sweep / "1", "unet", "l1")
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [(r["status"], r["world_size"]) for r in rows] == [("failed", "2"), ("ok", "2")]
    assert time.time() - start < 240
    assert not _strays(str(tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sweep_of_three_jobs_each_rank_trains_its_own_job(tmp_path, sample_data_dir):
    proc, sweep = _sweep(tmp_path, ["experiment=three"], data_dir=sample_data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()) == ["0", "1", "2"]
    for job, (model, loss) in {"0": ("vanilla", "l1"), "1": ("unet", "l1"), "2": ("vanilla", "mse")}.items():
        _assert_ranks_trained(sweep / job, model, loss)
    rows = list(csv.DictReader((sweep / "jobs.csv").open()))
    assert [r["world_size"] for r in rows] == ["2", "2", "2"]
    assert not _strays(str(tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_test_metrics_are_global_across_ranks(tmp_path):
    """Untrained weights (same seed) tested on 2 ranks, each seeing half the test set, give the 1-process figures."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "COLORIZATION_HOME": str(tmp_path)}
    env.pop("LOCAL_RANK", None)
    base = [sys.executable, str(REPO / "train.py"), "model=vanilla", "train=false", "model.width=8",
            "data.image_size=32", "data.sample.crops_per_photo=4", "data.batch_size=4", "logger=csv",
            "callbacks=none"]
    metrics = {}
    for name, trainer in (("one", ["trainer=cpu"]), ("two", ["trainer=ddp_sim"])):
        out = tmp_path / name
        proc = subprocess.run([*base, *trainer, f"hydra.run.dir={out}"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics[name] = json.loads((out / "metrics.json").read_text())
        assert _status(out)["world_size"] == (2 if name == "two" else 1)
    # 8 test crops: 2 batches in one process, 1 batch per rank in two; sum-reduced states make them equal.
    for key in ("test/psnr", "test/ssim", "test/psnr_gray", "test/cf"):
        assert metrics["two"][key] == pytest.approx(metrics["one"][key], rel=1e-4), key
    assert not _strays(str(tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_repeated_sweeps_never_hang(tmp_path):
    for i in range(3):
        root = tmp_path / str(i)
        root.mkdir()
        proc, sweep = _sweep(root, ["-m", "+case=a,c"], timeout=240)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert [_status(sweep / j)["status"] for j in ("0", "1")] == ["ok", "ok"]
        assert not _strays(str(root))


def _single_ddp_run(tmp_path: Path, data_dir: Path, *args: str) -> Path:
    """``train.py trainer=ddp_sim`` (tiny, one epoch) as one run; returns its run dir."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "COLORIZATION_HOME": str(tmp_path)}
    env.pop("LOCAL_RANK", None)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(REPO / "train.py"), *TINY, *args, f"paths.data_dir={data_dir}",
                           f"hydra.run.dir={out}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not _strays(str(tmp_path))
    return out


@pytest.mark.slow
def test_gan_trains_under_ddp(tmp_path, sample_data_dir):
    """D's backward leaves G without gradients and G's leaves D: the strategy searches for unused parameters."""
    run = _single_ddp_run(tmp_path, sample_data_dir, "module=gan", "model=vanilla")
    _assert_ranks_trained(run, "vanilla", "l1")
    assert "DDP with find_unused_parameters=true: GANModule" in (run / "train.log").read_text()
    assert "d_loss" in (run / "csv" / "metrics.csv").read_text().splitlines()[0]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_frozen_encoder_trains_under_ddp(tmp_path, sample_data_dir):
    run = _single_ddp_run(tmp_path, sample_data_dir, "model=unet", "model.encoder=resnet18",
                          "model.pretrained=false", "module.freeze_encoder_epochs=1")
    _assert_ranks_trained(run, "unet", "l1")
    assert "DDP with find_unused_parameters=true: ColorizationModule" in (run / "train.log").read_text()
