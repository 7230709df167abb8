"""Whether the sweep's launcher can run here, checked when the multirun starts, before Ray or submitit start.

``hydra/launcher=gpus`` needs GPUs (or logical ones declared with ``hydra.launcher.num_gpus``, or a Ray cluster to
join); ``hydra/launcher=slurm`` needs SLURM's ``sbatch``. Without them the sweep ends in one line that names the
option and the way out (a :class:`LauncherUnavailable`, exit code 1), instead of Ray's start-up and a traceback.
"""

from __future__ import annotations

import shutil

from omegaconf import DictConfig, OmegaConf

__all__ = ["LauncherUnavailable", "check_launcher"]


class LauncherUnavailable(SystemExit):
    """The launcher cannot run on this machine: its message alone on stderr, exit code 1."""


def _visible_gpus() -> int:
    import torch  # only for hydra/launcher=gpus; NVML answers without initialising CUDA

    return torch.cuda.device_count()


def check_launcher(config: DictConfig) -> None:
    """Raise :class:`LauncherUnavailable` when the multirun's launcher cannot run here."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    launcher = config.hydra.launcher
    if target.endswith("colorization_launchers.GpuLauncher"):
        declared = OmegaConf.select(launcher, "num_gpus", default=None)
        cluster = OmegaConf.select(launcher, "ray.init.address", default=None)
        if declared is None and not cluster and _visible_gpus() == 0:
            raise LauncherUnavailable(
                "hydra/launcher=gpus: this machine has no GPU (torch sees none): declare logical GPUs for CPU jobs "
                "with hydra.launcher.num_gpus=N trainer.accelerator=cpu, join a Ray cluster with "
                "hydra.launcher.ray.init.address=HOST:6379, or drop hydra/launcher=gpus to run the jobs one after "
                "another")
    elif target.endswith("SlurmLauncher") and shutil.which("sbatch") is None:
        raise LauncherUnavailable(
            "hydra/launcher=slurm: SLURM is not installed here (no `sbatch` on PATH): start the sweep on a SLURM "
            "login node, or use hydra/launcher=gpus (this machine's GPUs) or the default launcher (one job after "
            "another)")
