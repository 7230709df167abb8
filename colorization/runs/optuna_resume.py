"""``hparams_search=optuna`` resumed: the study (``optuna.db`` in the sweep dir) continues towards ``n_trials``.

Hydra's Optuna sweeper asks a batch of trials, launches them as jobs numbered like the trials, and tells the study
their values. A sweep stopped mid-way leaves its finished trials in the study and the trials that were running as
``RUNNING``. :func:`continue_study`, called by ``hydra_plugins.colorization_launchers.OptunaSweeper`` before the
sweep when ``colorization resume`` runs it, launches each such trial's job again (the launcher continues it from its
own checkpoint, or keeps it when it had ended), tells the study its value, and leaves the sweeper to ask only the
trials still missing, numbered after those already there.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from colorization.runs.sweep_dir import read_record, resuming

__all__ = ["continue_study"]

log = logging.getLogger(__name__)


def _tell(study: Any, number: int, value: Any) -> None:
    from optuna.trial import TrialState

    try:
        value = float(value)
    except (TypeError, ValueError):
        value = math.nan
    if math.isfinite(value):
        study.tell(number, value)
    else:
        study.tell(number, state=TrialState.FAIL)


def continue_study(impl: Any) -> None:
    """Before Hydra's ``OptunaSweeperImpl.sweep``: when the sweep is being resumed, finish the trials that were
    running and set ``impl.n_trials`` to those still to ask and ``impl.job_idx`` past the existing jobs."""
    sweep_dir = Path(str(impl.config.hydra.sweep.dir))
    if not resuming(sweep_dir) or impl.storage is None:
        return
    import optuna
    from optuna.trial import TrialState

    try:
        study = optuna.load_study(study_name=impl.study_name, storage=impl.storage)
    except KeyError:  # stopped before the study was created: the sweep starts from its first trial
        return
    jobs = (read_record(sweep_dir) or {}).get("jobs", {})
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job = jobs.get(str(trial.number))
        if job is None:  # asked, never launched: nothing ran, nothing to continue
            study.tell(trial.number, state=TrialState.FAIL)
            continue
        log.info("trial %d was interrupted: its job continues", trial.number)
        returned = impl.launcher.launch([job["overrides"]], initial_job_idx=trial.number)[0]
        try:
            value = returned.return_value
        except Exception:  # noqa: BLE001 - Hydra re-raises a job's exception here; the trial failed
            value = math.nan
        _tell(study, trial.number, value)
    done = len(study.trials)
    log.info("Optuna study %s: %d of %d trials done, %d to go", impl.study_name, done, impl.n_trials,
             max(0, impl.n_trials - done))
    impl.n_trials = max(0, impl.n_trials - done)
    impl.job_idx = done
