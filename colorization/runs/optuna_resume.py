"""``hparams_search=optuna`` resumed: the study continues towards ``n_trials`` with its finished trials kept.

Hydra's Optuna sweeper asks a batch of trials, launches them as jobs numbered like the trials (recorded in the
sweep's ``sweep.json``) and tells the study their values. The sweep dir therefore holds the whole study: each job's
overrides are its trial's parameters, its ``job_status.json`` its value. (An Optuna RDB storage would hold it too,
but the Optuna that hydra-optuna-sweeper allows, 2.x, cannot use SQLAlchemy 2.)

:func:`continue_study`, called by ``hydra_plugins.colorization_launchers.OptunaSweeper`` before Hydra's sweep when
``colorization resume`` runs it, launches the recorded jobs again through the sweep's launcher (which keeps the
finished ones, continues the interrupted ones from their checkpoints and runs those never started), adds every
trial to a study with their values, and leaves the sweeper to ask only the trials still missing, numbered after
those already there.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from colorization.runs.sweep_dir import read_record, resuming

__all__ = ["continue_study", "trial_params"]

log = logging.getLogger(__name__)


def trial_params(overrides: Sequence[str], distributions: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters from its job's overrides (``optimizer.lr=0.0012``), typed as each distribution holds
    them (a categorical choice as the choice itself, ``32`` rather than ``"32"``)."""
    from optuna.distributions import CategoricalDistribution, IntLogUniformDistribution, IntUniformDistribution

    given = dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    params: dict[str, Any] = {}
    for name, dist in distributions.items():
        text = given[name]
        if isinstance(dist, CategoricalDistribution):
            params[name] = next(c for c in dist.choices if str(c) == text)
        elif isinstance(dist, (IntUniformDistribution, IntLogUniformDistribution)):
            params[name] = int(text)
        else:
            params[name] = float(text)
    return params


def _value(returned: Any) -> float:
    try:
        value = float(returned.return_value)  # Hydra re-raises a job's own exception here
    except Exception:  # noqa: BLE001 - any error: the trial failed
        return math.nan
    return value


def continue_study(impl: Any, arguments: list[str]) -> None:
    """Before Hydra's ``OptunaSweeperImpl.sweep(arguments)``: when the sweep is being resumed, finish its recorded
    jobs, put them in a study as trials, point ``impl.storage`` at it, and set ``impl.n_trials`` to the trials
    still to ask and ``impl.job_idx`` past the existing jobs."""
    sweep_dir = Path(str(impl.config.hydra.sweep.dir))
    jobs = (read_record(sweep_dir) or {}).get("jobs", {})
    if not resuming(sweep_dir) or not jobs:
        return
    import optuna
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
    from optuna.trial import TrialState, create_trial

    impl._process_searchspace_config()
    distributions, fixed = create_params_from_overrides(impl._parse_sweeper_params_config() + list(arguments))
    for name in fixed:
        distributions.pop(name, None)
    numbers = sorted(int(n) for n in jobs)
    assert numbers == list(range(len(numbers))), f"Optuna's jobs are numbered 0..n-1, not {numbers}"
    log.info("Optuna: %d recorded trial(s) first (kept, continued or run), then %d more", len(numbers),
             max(0, impl.n_trials - len(numbers)))
    returns = impl.launcher.launch([jobs[str(n)]["overrides"] for n in numbers], initial_job_idx=0)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name=impl.study_name, storage=storage, directions=impl._get_directions())
    with warnings.catch_warnings():
        # create_trial and add_trial are stable since Optuna 3; the 2.x that Hydra's sweeper allows flags them.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for n, returned in zip(numbers, returns, strict=True):
            params = trial_params(jobs[str(n)]["overrides"], distributions)
            value = _value(returned)
            state = {"value": value} if math.isfinite(value) else {"state": TrialState.FAIL}
            study.add_trial(create_trial(params=params, distributions=distributions, **state))
    impl.storage = storage
    impl.n_trials = max(0, impl.n_trials - len(numbers))
    impl.job_idx = len(numbers)
