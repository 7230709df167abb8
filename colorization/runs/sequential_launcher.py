"""The default launcher of a multirun: Hydra's one-job-after-another loop, and a signal ends the sweep cleanly.

Hydra's ``BasicLauncher`` runs the jobs in a loop and calls the sweep's end callbacks (the summary) only when
every job returned; a SIGTERM or Ctrl-C used to end the process with status 0, the rest of the jobs never ran and
no summary was written. Here the loop runs under a :class:`~colorization.runs.termination.SignalWatch`: when a
signal stops job k (or arrives between jobs), job k is marked terminated, the jobs after it not_run, the summary is
written and the process exits ``128 + signum`` (:func:`colorization.runs.sweep_stop.stop_sweep`). A job that merely
fails still returns NaN from :func:`colorization.runs.job.run_job` and the sweep goes on, as before.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import DictConfig, open_dict

from colorization.runs.sweep_launch import jobs_to_launch, kept_return
from colorization.runs.sweep_stop import stop_sweep
from colorization.runs.termination import JobTerminated, SignalWatch

log = logging.getLogger(__name__)


def job_config(launcher: BasicLauncher, overrides: Sequence[str], idx: int) -> DictConfig:
    """Job ``idx``'s full config (the sweep's base config plus its overrides), numbered as Hydra numbers it."""
    assert launcher.hydra_context is not None and launcher.config is not None
    sweep_config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = idx
        sweep_config.hydra.job.num = idx
    return sweep_config


def launch_in_order(launcher: BasicLauncher, job_overrides: Sequence[Sequence[str]],
                    initial_job_idx: int) -> list[JobReturn]:
    """Run the jobs one after another, as ``BasicLauncher.launch`` does; on SIGTERM/SIGINT stop the sweep."""
    setup_globals()
    assert launcher.hydra_context is not None and launcher.config is not None
    assert launcher.task_function is not None
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    jobs = jobs_to_launch(config, job_overrides, initial_job_idx, lambda n, o: job_config(launcher, o, n))
    log.info("Launching %d jobs locally", sum(j.overrides is not None for j in jobs))
    runs: list[JobReturn] = []
    with SignalWatch() as watch:
        for i, job in enumerate(jobs):
            if job.overrides is None:
                runs.append(kept_return(job, config))
                continue
            try:
                log.info("\t#%d : %s", job.idx, " ".join(filter_overrides(job.overrides)))
                runs.append(run_job(hydra_context=launcher.hydra_context, task_function=launcher.task_function,
                                    config=job_config(launcher, job.overrides, job.idx), job_dir_key="hydra.sweep.dir",
                                    job_subdir_key="hydra.sweep.subdir"))
                configure_log(config.hydra.hydra_logging, config.hydra.verbose)
            except (JobTerminated, KeyboardInterrupt) as e:
                watch.quiet()
                signum = getattr(e, "signum", None) or watch.signum or int(signal.SIGINT)
                configure_log(config.hydra.hydra_logging, config.hydra.verbose)
                later = [(j.idx, j.given) for j in jobs[i + 1:] if j.overrides is not None]
                stop_sweep(config, launcher.hydra_context.callbacks, signum, [(job.idx, job.overrides)], later,
                           lambda n, o: job_config(launcher, o, n))
    return runs


class SequentialLauncher(BasicLauncher):
    """Hydra's basic launcher whose sweep a signal ends with every job accounted for (:func:`launch_in_order`)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        return launch_in_order(self, job_overrides, initial_job_idx)
