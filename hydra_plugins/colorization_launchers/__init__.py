"""Colorization's Hydra launchers. Hydra instantiates a launcher only from the ``hydra_plugins`` namespace, and it
imports every module there whenever it starts; so each launcher is named here as a thin class whose work (and its
Ray import) is loaded only when a sweep actually uses it. The code lives in ``colorization/distributed/``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


class GpuLauncher(Launcher):
    """``hydra/launcher=gpus`` (``conf/hydra/launcher/gpus.yaml``): one job per free GPU, scheduled by Ray
    (:class:`colorization.distributed.gpu_launcher.GpuLauncher` does the work)."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.impl: Launcher | None = None

    def setup(self, **kwargs: Any) -> None:
        from colorization.distributed.gpu_launcher import GpuLauncher as RayGpuLauncher

        self.impl = RayGpuLauncher(**self.params)
        self.impl.setup(**kwargs)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.impl is not None, "setup() comes first"
        return self.impl.launch(job_overrides, initial_job_idx)
