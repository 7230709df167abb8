"""``JobDDPStrategy``: Lightning's DDP (``popen`` re-launch, not spawn) that is safe inside a Hydra multirun."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import lightning as L
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from torch.nn import Module
from torch.nn.parallel import DistributedDataParallel

from colorization.distributed.launcher import JobScriptLauncher

log = logging.getLogger(__name__)


class JobDDPStrategy(DDPStrategy):
    """DDP whose extra ranks are re-launched as single runs of the current sweep job.

    Two questions it asks the LightningModule, by attribute (so any module can answer):

    - ``needs_unused_parameter_search``: true when a backward pass leaves some parameters without a gradient (a
      GAN's discriminator step touches only D, its generator step only G; a frozen encoder gets none). DDP must
      then look for them after each backward (``find_unused_parameters``), or it fails on the first step
      ("parameters that were not used in producing the loss"). The search costs a walk of the autograd graph,
      so only such modules pay it.
    - ``compiled``: true when its network runs under ``torch.compile``. SyncBatchNorm (``trainer.sync_batchnorm``)
      all-reduces inside every BatchNorm's forward, which Dynamo cannot trace: the compiled graph would break at
      each one. A compiled module keeps plain BatchNorm (each GPU normalises by its own batch), with a warning.

    Args:
        timeout_s: the process-group timeout in seconds. Short on purpose: a child that dies before the group
            forms is only noticed when it expires (every other failure is noticed at once).
        watchdog_poll_s: seconds between checks that the children are alive.
        kill_grace_s: seconds between SIGTERM and SIGKILL when a child must be stopped.
        reap_wait_s: seconds the children get to exit after rank 0 finished the job.
        **kwargs: everything ``lightning.pytorch.strategies.DDPStrategy`` takes (``process_group_backend``,
            ``find_unused_parameters``, ...), except ``timeout`` and ``start_method``.
    """

    def __init__(self, timeout_s: float = 300.0, watchdog_poll_s: float = 1.0, kill_grace_s: float = 5.0,
                 reap_wait_s: float = 60.0, **kwargs: Any) -> None:
        super().__init__(timeout=timedelta(seconds=timeout_s), start_method="popen", **kwargs)
        self.watchdog_poll_s = watchdog_poll_s
        self.kill_grace_s = kill_grace_s
        self.reap_wait_s = reap_wait_s

    def _configure_launcher(self) -> None:
        assert self.cluster_environment is not None
        self._launcher = JobScriptLauncher(self.cluster_environment, self.num_processes, self.num_nodes,
                                           watchdog_poll_s=self.watchdog_poll_s, kill_grace_s=self.kill_grace_s,
                                           reap_wait_s=self.reap_wait_s,
                                           on_failure=self._abort_process_group)

    def setup(self, trainer: L.Trainer) -> None:
        if self._layer_sync is not None and getattr(self.lightning_module, "compiled", False):
            log.warning("trainer.sync_batchnorm=true ignored: module.compile.enabled=true keeps plain BatchNorm "
                        "(SyncBatchNorm would break the compiled graph at every BatchNorm layer)")
            self._layer_sync = None
        super().setup(trainer)

    def _setup_model(self, model: Module) -> DistributedDataParallel:
        if getattr(self.lightning_module, "needs_unused_parameter_search", False) and not self._ddp_kwargs.get(
                "find_unused_parameters"):
            log.info("DDP with find_unused_parameters=true: %s leaves some parameters without a gradient in a "
                     "backward pass", type(self.lightning_module).__name__)
            self._ddp_kwargs["find_unused_parameters"] = True
        return super()._setup_model(model)

    def setup_environment(self) -> None:
        super().setup_environment()
        log.info("DDP rank %d of %d (local rank %d, node %d) ready, backend %s", self.global_rank,
                 self.world_size, self.local_rank, self.node_rank, self._process_group_backend)

    def _abort_process_group(self) -> None:
        # A peer's death breaks gloo's sockets, so rank 0 fails at once; NCCL would wait for the timeout.
        if dist.is_initialized() and dist.get_backend() == "nccl":
            log.error("aborting the NCCL process group after a rank failed")
            dist.distributed_c10d._abort_process_group()
