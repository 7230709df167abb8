"""``hydra/launcher=gpus``: the jobs of a multirun run at once, each on GPUs of its own (Ray schedules them).

Ray (through hydra-ray-launcher's local ``ray`` launcher) does the scheduling: every job is a Ray task that asks
for ``num_gpus`` GPUs, so a job starts as soon as enough GPUs are free (never in batches), two jobs never share a
GPU, and Ray sets ``CUDA_VISIBLE_DEVICES`` to the task's GPUs before the job runs, so the job sees them as
``cuda:0``.. Each task runs in a fresh worker process (``max_calls: 1`` in ``conf/hydra/launcher/gpus.yaml``), so
CUDA is never initialised in a process that held another job's GPU. With ``ray.init.address`` set the same sweep
runs on a Ray cluster of many nodes.

What this subclass adds to the Ray launcher: ``num_gpus`` (declared GPUs, logical ones on a machine without any),
GPUs per job (``gpus_per_job``, or ``trainer.devices`` for a DDP job), a sentence instead of a hang when a job
asks for more GPUs than there are, a failed status for a job whose worker died, and Ctrl-C or SIGTERM that
stops every job (those that had started are marked terminated, the others not_run; the summary is still written).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher
from omegaconf import DictConfig, OmegaConf, open_dict

from colorization.distributed.command import ENTRY_ENV, driver_argv
from colorization.runs.sweep_launch import jobs_to_launch, kept_return
from colorization.runs.termination import SignalWatch, signal_name

log = logging.getLogger(__name__)

# ray.init's options that start a node; a driver that joins a cluster (ray.init.address) passes none of them.
_NODE_OPTIONS = ("num_cpus", "num_gpus", "resources", "object_store_memory", "include_dashboard", "dashboard_host",
                 "dashboard_port", "_temp_dir")
# Seconds between looks at whether a signal arrived while the jobs run: how soon the sweep reacts to one.
SIGNAL_POLL_S = 0.5


def gpus_for_job(job_cfg: DictConfig, gpus_per_job: int | None, gpus_per_node: int) -> int:
    """GPUs one job asks Ray for (an int >= 1): ``gpus_per_job`` when set; else the job's ``trainer.devices`` when
    that is a positive int (a DDP job), all of a node's GPUs for ``-1``, and 1 otherwise."""
    if gpus_per_job is not None:
        return int(gpus_per_job)
    devices = OmegaConf.select(job_cfg, "trainer.devices", default=1)
    if isinstance(devices, int) and devices > 0:
        return devices
    return gpus_per_node if devices == -1 else 1


def _run_job_in(cwd: str, **job: Any) -> JobReturn:
    """A Ray task: run one job (hydra-ray-launcher's ``_run_job``) in the driver's working dir ``cwd``, so relative
    paths (the sweep dir, ``COLORIZATION_HOME`` unset, the data) mean what they meant to the driver also on another
    node of a cluster (a shared file system); a node without that dir keeps its own."""
    from hydra_plugins.hydra_ray_launcher._launcher_util import _run_job

    if Path(cwd).is_dir():
        os.chdir(cwd)
    else:
        log.warning("the sweep's working dir %s is not on this node; jobs run in %s", cwd, os.getcwd())
    return _run_job(**job)


class GpuLauncher(RayLauncher):
    """Hydra's Ray launcher, one job per free GPU. ``num_gpus``: GPUs Ray may hand out on this machine (``None``:
    every visible one); ``gpus_per_job``: GPUs each job gets (``None``: 1, or ``trainer.devices`` for DDP)."""

    def __init__(self, ray: DictConfig, num_gpus: int | None = None, gpus_per_job: int | None = None) -> None:
        super().__init__(ray=ray)
        self.num_gpus = num_gpus
        self.gpus_per_job = gpus_per_job

    def _start_ray(self) -> int:
        """Start (or join) Ray; return the most GPUs one node has."""
        import ray

        # No usage-stats prompt or upload: nothing leaves the machine unless the user points at a cluster.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        init: dict[str, Any] = OmegaConf.to_container(self.ray_cfg.init, resolve=True)  # type: ignore[assignment]
        if init.get("address"):
            # Joining a cluster: its nodes declare their own resources, and ray.init refuses these when connecting.
            init = {k: v for k, v in init.items() if k not in _NODE_OPTIONS}
        elif self.num_gpus is not None:
            init["num_gpus"] = int(self.num_gpus)
        if not ray.is_initialized():
            log.info("starting Ray: %s", init)
            ray.init(**init)
        nodes = [n["Resources"].get("GPU", 0) for n in ray.nodes() if n.get("Alive")]
        return int(max(nodes, default=0))

    def _job_config(self, overrides: Sequence[str], idx: int) -> DictConfig:
        assert self.config is not None and self.hydra_context is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"job_id_for_{idx}"
            sweep_config.hydra.job.num = idx
        return sweep_config

    def _check_jobs(self, job_overrides: Sequence[tuple[int, list[str]]],
                    gpus_per_node: int) -> list[tuple[DictConfig, list[str], int]]:
        """Every job's (config, overrides, GPUs) from its (number, overrides), checked before any is submitted, so a
        job Ray could never run fails the sweep before other jobs have started."""
        jobs = []
        for idx, overrides in job_overrides:
            job_cfg = self._job_config(overrides, idx)
            gpus = gpus_for_job(job_cfg, self.gpus_per_job, gpus_per_node)
            if OmegaConf.select(job_cfg, "trainer.num_nodes", default=1) not in (1, None):
                raise ValueError(f"job #{idx} sets trainer.num_nodes > 1: a Ray task runs on one node; use "
                                 "hydra/launcher=slurm for multi-node DDP")
            if gpus > gpus_per_node:
                raise ValueError(f"job #{idx} needs {gpus} GPU(s) but a node has {gpus_per_node}: set "
                                 "hydra.launcher.num_gpus (logical GPUs on a machine without any) or "
                                 "hydra.launcher.gpus_per_job")
            jobs.append((job_cfg, list(overrides), gpus))
        return jobs

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import ray

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = jobs_to_launch(self.config, job_overrides, initial_job_idx, lambda n, o: self._job_config(o, n))
        to_run = [(j.idx, j.overrides) for j in jobs if j.overrides is not None]
        gpus_per_node = self._start_ray()
        log.info("%d jobs on %d GPU(s) per node, sweep dir %s", len(to_run), gpus_per_node,
                 self.config.hydra.sweep.dir)
        checked = self._check_jobs(to_run, gpus_per_node)

        # Installed after ray.init, which sets a SIGTERM handler of its own in this process (it exits 1). The watch
        # only records a signal (quiet): an exception a handler raises while Ray waits is turned by Ray into a bare
        # SystemExit(1), which would end the sweep with no status files and no summary. So the sweep looks at the
        # recorded signal between short waits instead.
        with SignalWatch() as watch:
            watch.quiet()
            refs = self._submit(checked, watch)
            self._log_as_they_end(refs, watch)
            if watch.signum is None:
                ran = iter(self._result(ref, cfg, overrides)
                           for ref, (cfg, overrides, _) in zip(refs, checked, strict=True))
                return [next(ran) if j.overrides is not None else kept_return(j, self.config) for j in jobs]
            log.warning("received %s: stopping every job of the sweep", signal_name(watch.signum))
            # Latest first: a queued job is cancelled before a running one's end frees a GPU it could start on.
            for ref in reversed(refs):
                ray.cancel(ref, force=True)
            ray.shutdown()
            self._stop_sweep([(cfg, overrides) for cfg, overrides, _ in checked], watch.signum)

    def _submit(self, jobs: list[tuple[DictConfig, list[str], int]], watch: SignalWatch) -> list[Any]:
        """Hand the jobs to Ray in order (Ray starts each once its GPUs are free); stop handing them over once
        ``watch`` has recorded a signal. Returns the submitted jobs' Ray object refs."""
        import ray

        assert self.hydra_context is not None and self.task_function is not None
        refs = []
        # A DDP job re-launches its other ranks with the driver's entry point: in a Ray worker, __main__ is Ray's.
        env_vars = {ENTRY_ENV: json.dumps(driver_argv())}
        for job_cfg, overrides, gpus in jobs:
            if watch.signum is not None:
                break
            log.info("\t#%d (%d GPU): %s", job_cfg.hydra.job.num, gpus, " ".join(filter_overrides(overrides)))
            remote = OmegaConf.merge(self.ray_cfg.remote, {"num_gpus": gpus, "runtime_env": {"env_vars": env_vars}})
            options = OmegaConf.to_container(remote, resolve=True)
            refs.append(ray.remote(**options)(_run_job_in).remote(  # type: ignore[arg-type]
                os.getcwd(), hydra_context=self.hydra_context, sweep_config=job_cfg,
                task_function=self.task_function, singleton_state=Singleton.get_state()))
        return refs

    def _stop_sweep(self, jobs: list[tuple[DictConfig, list[str]]], signum: int) -> NoReturn:
        """After a signal: the jobs (config, overrides) that had started (their run dir exists) are terminated,
        the others not_run; then the summary, and exit ``128 + signum``
        (:func:`colorization.runs.sweep_stop.stop_sweep`)."""
        from colorization.runs.sweep_stop import stop_sweep

        assert self.config is not None and self.hydra_context is not None
        by_num = {int(c.hydra.job.num): c for c, _ in jobs}
        started, never = [], []
        for job_cfg, overrides in jobs:
            job_dir = Path(str(job_cfg.hydra.sweep.dir)) / str(job_cfg.hydra.sweep.subdir)
            (started if job_dir.is_dir() else never).append((int(job_cfg.hydra.job.num), overrides))
        stop_sweep(self.config, self.hydra_context.callbacks, signum, started, never, lambda n, o: by_num[n])

    @staticmethod
    def _log_as_they_end(refs: list[Any], watch: SignalWatch) -> None:
        """Wait for every job, saying when each ends (the jobs' own output is in their run dirs' logs); return
        early once ``watch`` has recorded a signal."""
        import ray

        number = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        while pending and watch.signum is None:
            done, pending = ray.wait(pending, num_returns=1, timeout=SIGNAL_POLL_S)
            for ref in done:
                log.info("job %d of %d ended; %d still running or queued", number[ref] + 1, len(refs),
                         len(pending))

    @staticmethod
    def _result(ref: Any, job_cfg: DictConfig, overrides: list[str]) -> JobReturn:
        """The job's own return, or, when its worker died (killed, out of memory), a failed status written here and
        NaN, as :func:`colorization.runs.job.run_job` returns for a failed job, so the sweep and its summary go on."""
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayError as e:
            from colorization.runs.job import describe_error, timestamp, write_status
            from colorization.runs.status import JobStatus as RunStatus

            job_dir = Path(str(job_cfg.hydra.sweep.dir)) / str(job_cfg.hydra.sweep.subdir)
            error = describe_error(e)
            log.error("job #%s: its Ray worker failed: %s", job_cfg.hydra.job.num, error)
            existing = RunStatus.read(job_dir)
            if existing is None or existing.status == "running":  # the worker died before it could say so
                started = existing.to_dict() if existing is not None else {}
                write_status(job_dir, {**started, "job_num": job_cfg.hydra.job.num, "overrides": overrides,
                                       "output_dir": str(job_dir), "status": "failed", "error": error,
                                       "ended_at": timestamp()})
            return JobReturn(overrides=overrides, cfg=job_cfg, hydra_cfg=job_cfg, working_dir=os.getcwd(),
                             status=JobStatus.COMPLETED, _return_value=math.nan)
