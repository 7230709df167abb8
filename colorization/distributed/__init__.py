"""DDP inside Hydra multirun: each sweep job trains on all its ranks, then the next job starts clean.

- :class:`JobDDPStrategy` (``trainer.strategy`` in ``conf/trainer/ddp*.yaml``) is Lightning's ``DDPStrategy`` whose
  launcher re-launches every child as a *single run of the current job* (:mod:`.command`), watched by a stoppable
  :class:`ChildWatchdog` instead of Lightning's observer, with children that die with their parent.
- :func:`job_boundary` (used by :func:`colorization.runs.job.run_job`) restores the environment, destroys the
  process group and reaps the children after every job, pass or fail.
"""

from colorization.distributed.boundary import RankFailedError, job_boundary
from colorization.distributed.rank import env_global_rank, env_world_size
from colorization.distributed.strategy import JobDDPStrategy
from colorization.distributed.watchdog import ChildWatchdog

__all__ = ["RankFailedError", "ChildWatchdog", "JobDDPStrategy", "env_global_rank", "env_world_size",
           "job_boundary"]
