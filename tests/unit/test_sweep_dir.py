"""A sweep dir belongs to one sweep (lock, record, refusals that change nothing); a launcher this machine cannot run
is refused before it starts; a resume that does not fit its checkpoint is refused, one that changes the training
is named; a DDP rank re-launches the driver's entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from colorization.distributed.command import ENTRY_ENV, child_command, driver_argv, entry_point
from colorization.errors import ConfigError
from colorization.runs import launcher_check
from colorization.runs import sweep_dir as sd
from colorization.runs.launcher_check import LauncherUnavailable, check_launcher
from colorization.training.resume import check_resume_config
from tests.support.checkpoints import save_checkpoint, tiny_module

GPUS = "hydra_plugins.colorization_launchers.GpuLauncher"
SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


def _config(sweep: Path, target: str = "hydra_plugins.colorization_launchers.SequentialLauncher", **launcher):
    return OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}, "launcher": {"_target_": target, **launcher},
                                       "runtime": {"choices": {"hydra/launcher": "sequential"}}}})


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


def test_a_new_sweep_locks_its_dir_and_records_its_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    try:
        assert sd.claim_sweep_dir(_config(sweep)) == sweep
        sd.record_jobs(sweep, [(0, ["seed=1"], sweep / "0"), (1, ["seed=2"], sweep / "1")])
        record = json.loads((sweep / sd.SWEEP_FILE).read_text())
        assert record["launcher"] == "sequential" and record["cwd"] and record["command"]
        assert record["jobs"] == {"0": {"overrides": ["seed=1"], "dir": "0"},
                                  "1": {"overrides": ["seed=2"], "dir": "1"}}
        # Seen from another process, the dir is locked by this one.
        probe = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from colorization.runs."
                                "sweep_dir import lock_holder; print(lock_holder(Path(sys.argv[1])))", str(sweep)],
                               capture_output=True, text=True, check=True)
        assert probe.stdout.strip().startswith("pid ")
    finally:
        sd.release(sweep)
    assert sd.lock_holder(sweep) is None, "released"


def test_a_dir_holding_a_sweep_is_refused_in_one_line_and_left_as_it_was(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    (sweep / "0" / ".hydra").mkdir(parents=True)
    (sweep / "0" / "job_status.json").write_text('{"status": "ok"}')
    before = _snapshot(sweep)
    with pytest.raises(sd.SweepDirRefused) as refused:
        sd.claim_sweep_dir(_config(sweep))
    assert str(refused.value) == (f"hydra.sweep.dir={sweep} already holds a sweep (1 job dirs): continue it with "
                                  f"`python -m colorization resume {sweep}` once it has stopped, or set "
                                  "hydra.sweep.dir to a new dir")
    assert _snapshot(sweep) == before
    # `colorization resume` may go in (it has a record), and nobody else while it runs.
    (sweep / sd.SWEEP_FILE).write_text(json.dumps({"jobs": {}, "resumed_at": []}))
    monkeypatch.setenv(sd.RESUME_ENV, str(sweep))
    try:
        sd.claim_sweep_dir(_config(sweep))
        assert len(json.loads((sweep / sd.SWEEP_FILE).read_text())["resumed_at"]) == 1
    finally:
        sd.release(sweep)


def test_a_locked_dir_is_refused_even_empty(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); f.write('pid 99 on n1');"
        " f.flush(); print('locked', flush=True); time.sleep(60)"), str(sweep / sd.LOCK_FILE)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(sd.SweepDirRefused, match=r"is in use by a running sweep \(pid 99 on n1\): continue it "):
            sd.claim_sweep_dir(_config(sweep))
        assert sorted(p.name for p in sweep.iterdir()) == [sd.LOCK_FILE]
    finally:
        holder.kill()
        holder.wait()


def test_gpus_without_gpus_and_slurm_without_sbatch_are_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(launcher_check, "_visible_gpus", lambda: 0)
    with pytest.raises(LauncherUnavailable, match=r"^hydra/launcher=gpus: this machine has no GPU .*"
                                                  r"hydra.launcher.num_gpus=N trainer.accelerator=cpu"):
        check_launcher(_config(tmp_path, GPUS, num_gpus=None, ray={"init": {"address": None}}))
    check_launcher(_config(tmp_path, GPUS, num_gpus=2, ray={"init": {"address": None}}))  # logical GPUs
    check_launcher(_config(tmp_path, GPUS, num_gpus=None, ray={"init": {"address": "head:6379"}}))  # a cluster's
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    with pytest.raises(LauncherUnavailable, match=r"^hydra/launcher=slurm: SLURM is not installed here \(no `sbatch`"):
        check_launcher(_config(tmp_path, SLURM))
    (tmp_path / "sbatch").write_text("#!/bin/sh\n")
    (tmp_path / "sbatch").chmod(0o755)
    check_launcher(_config(tmp_path, SLURM))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, object]:
    """A checkpoint in its run dir and the config it was trained with."""
    run = tmp_path_factory.mktemp("run")
    module = tiny_module()
    (run / "checkpoints").mkdir()
    ckpt = save_checkpoint(module, run / "checkpoints" / "last.ckpt")
    cfg = OmegaConf.create({
        "seed": 1, "model": dict(module.hparams["model"]), "loss": {"name": "l1"},
        "optimizer": {"lr": 1e-3}, "trainer": {"max_epochs": 2},
        "scheduler": {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "T_max": 2},
        "data": {"image_size": 32, "batch_size": 8, "num_workers": 0, "root": "/data"},
        "module": {"_target_": "colorization.training.module.ColorizationModule"}})
    return ckpt, cfg


def test_a_resume_that_does_not_fit_its_checkpoint_is_refused(trained):
    ckpt, cfg = trained
    for key, value, named in [("loss.name", "mse", "loss.name='mse' (checkpoint: 'l1')"),
                              ("data.image_size", 48, "data.image_size=48 (checkpoint: 32)"),
                              ("data.root", "/other", "data.root='/other' (checkpoint: '/data')")]:
        changed = OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{key}={value}"]))
        with pytest.raises(ConfigError) as refused:
            check_resume_config(changed, cfg, str(ckpt))
        assert str(refused.value) == (f"ckpt_path={ckpt} was trained with other settings than this run's: {named}; "
                                      "pass the settings it was trained with, or start a new run without ckpt_path")
    assert check_resume_config(cfg, cfg, str(ckpt)) == []
    loading = OmegaConf.merge(cfg, OmegaConf.from_dotlist(["data.num_workers=4"]))
    assert check_resume_config(loading, cfg, str(ckpt)) == [], "how the data is loaded may change"


def test_a_resume_that_changes_the_training_says_what_follows(trained):
    ckpt, cfg = trained
    longer = OmegaConf.merge(cfg, OmegaConf.from_dotlist(["trainer.max_epochs=4", "scheduler.T_max=4",
                                                          "optimizer.lr=0.01", "data.batch_size=4"]))
    assert check_resume_config(longer, cfg, str(ckpt)) == [
        "data.batch_size=4 (checkpoint: 8) applies after the checkpoint's 1 epochs, which trained with the "
        "checkpoint's value",
        "optimizer.lr=0.01 has no effect on this resume: the optimizer's state is restored from the checkpoint "
        "(optimizer.lr=0.001); start a new run to use the new value",
        "trainer.max_epochs 2 -> 4: training continues after the checkpoint's 1 epochs; the cosine schedule restored "
        "from the checkpoint (T_max=2) reaches its minimum after epoch 2 and then climbs back up along the cosine; "
        "start a new run (without ckpt_path) for 4 epochs on one schedule"]


def test_a_ddp_rank_relaunches_the_drivers_entry_point(monkeypatch):
    """Inside a Ray worker ``__main__`` is Ray's worker script; the driver passes its own entry point on."""
    monkeypatch.setenv(ENTRY_ENV, json.dumps(["/repo/train.py", "-m", "--config-name", "train", "seed=1,2"]))
    assert entry_point() == [sys.executable, "/repo/train.py"]
    assert driver_argv() == ["/repo/train.py", "-m", "--config-name", "train", "seed=1,2"]
    hc = OmegaConf.create({"overrides": {"task": ["seed=2"], "hydra": ["hydra/launcher=gpus"]},
                           "runtime": {"output_dir": "/s/1", "cwd": "/repo"},
                           "job": {"name": "train", "num": 1, "id": "job_id_for_1"}})
    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: hc))
    command, cwd = child_command(1)
    assert command == [sys.executable, "/repo/train.py", "--config-name", "train", "seed=2", "hydra.mode=RUN",
                       "hydra.run.dir='/s/1'", "hydra.job.name='train_rank1'", "hydra.output_subdir=null",
                       "hydra.job.num=1", "hydra.job.id='job_id_for_1'"]
    assert cwd == "/repo"
    monkeypatch.setenv(ENTRY_ENV, json.dumps(["-m", "colorization.train", "seed=1"]))
    assert entry_point() == [sys.executable, "-m", "colorization.train"]
