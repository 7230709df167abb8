"""Colorization's Hydra launchers (``sequential``, the default, and ``gpus``) and Optuna sweeper. Hydra instantiates
a plugin only from the ``hydra_plugins`` namespace, and it imports every module there whenever it starts; so each is
named here as a thin class whose work (and its Ray or torch import) is loaded only when a sweep actually uses it.
The code lives in ``colorization/runs/`` and ``colorization/distributed/``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as HydraOptunaSweeper
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher as SubmititLocalLauncher
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher


class GpuLauncher(Launcher):
    """``hydra/launcher=gpus`` (``conf/hydra/launcher/gpus.yaml``): one job per free GPU, scheduled by Ray
    (:class:`colorization.runs.gpu_launcher.GpuLauncher` does the work)."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.impl: Launcher | None = None

    def setup(self, **kwargs: Any) -> None:
        from colorization.runs.gpu_launcher import GpuLauncher as RayGpuLauncher

        self.impl = RayGpuLauncher(**self.params)
        self.impl.setup(**kwargs)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.impl is not None, "setup() comes first"
        return self.impl.launch(job_overrides, initial_job_idx)


class SequentialLauncher(BasicLauncher):
    """``hydra/launcher=sequential`` (the default, ``conf/hydra/launcher/sequential.yaml``): Hydra's basic launcher,
    one job after another, whose sweep SIGTERM or Ctrl-C ends with every job accounted for and the summary written
    (:func:`colorization.runs.sequential_launcher.launch_in_order` does the work)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from colorization.runs.sequential_launcher import launch_in_order

        return launch_in_order(self, job_overrides, initial_job_idx)


class OptunaSweeper(HydraOptunaSweeper):
    """``hparams_search=optuna``: Hydra's Optuna sweeper, whose study (its trials are the sweep dir's jobs)
    ``colorization resume`` continues towards ``n_trials`` (:func:`colorization.runs.optuna_resume.continue_study`)."""

    def sweep(self, arguments: list[str]) -> None:
        from colorization.runs.optuna_resume import continue_study

        continue_study(self.sweeper, arguments)
        return super().sweep(arguments)


class _ResumableSubmitit:
    """What ``colorization resume`` needs of a hydra-submitit-launcher launcher (:mod:`colorization.runs.sweep_launch`):
    an interrupted job is submitted with ``ckpt_path=last``; a job kept as it is becomes a task that only reports its
    recorded result (the array keeps every job's number)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from colorization.runs.sweep_launch import jobs_to_launch

        config, context = self.config, self.hydra_context  # type: ignore[attr-defined]
        jobs = jobs_to_launch(config, job_overrides, initial_job_idx,
                              lambda n, o: context.config_loader.load_sweep_config(config, list(o)))
        self.kept = {j.idx: j for j in jobs if j.overrides is None}
        runs = [j.overrides if j.overrides is not None else j.given for j in jobs]
        return super().launch(runs, initial_job_idx)  # type: ignore[misc]

    def __call__(self, sweep_overrides: list[str], job_dir_key: str, job_num: int, job_id: str,
                 singleton_state: dict[type, Any]) -> JobReturn:
        kept = getattr(self, "kept", {}).get(job_num)
        if kept is not None:
            from colorization.runs.sweep_launch import kept_return

            return kept_return(kept, self.config)  # type: ignore[attr-defined]
        return super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)  # type: ignore[misc]


class SlurmLauncher(_ResumableSubmitit, SubmititSlurmLauncher):
    """``hydra/launcher=slurm`` (``conf/hydra/launcher/slurm.yaml``): hydra-submitit-launcher's SLURM launcher, one
    SLURM job per sweep job, that ``colorization resume`` continues."""


class LocalLauncher(_ResumableSubmitit, SubmititLocalLauncher):
    """``hydra/launcher=local`` (``conf/hydra/launcher/local.yaml``): hydra-submitit-launcher's local launcher,
    each job its own process, that ``colorization resume`` continues."""
