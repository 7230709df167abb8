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
