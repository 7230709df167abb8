"""The command line that re-launches one rank of the current Hydra job as a single run.

Lightning's own Hydra re-launch repeats ``sys.argv`` — ``-m`` and the whole sweep included — so inside a multirun
every child would start a sweep of its own in a new sweep dir. Here a child gets the script, the config location
arguments, the job's own overrides (``hydra.overrides.task``: the sweep already resolved to this job's values), the
non-sweep Hydra overrides, and the job's dir, num and id, so it composes exactly this job's config and writes into
this job's dir.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

# Command-line flags that say where the config is; each takes one value (``-cp X`` or ``--config-path=X``).
_CONFIG_FLAGS = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd")

# Hydra overrides that belong to the sweep or that the child sets itself; everything else is passed on.
_SWEEP_KEYS = ("hydra.mode", "hydra.sweep", "hydra.sweeper", "hydra/sweeper", "hydra.launcher", "hydra/launcher",
               "hydra.run.dir", "hydra.job.name", "hydra.job.num", "hydra.job.id", "hydra.output_subdir")


def config_arguments(argv: Sequence[str]) -> list[str]:
    """The ``--config-path/--config-name/--config-dir`` arguments of ``argv`` (both spellings), in order."""
    out: list[str] = []
    it = iter(range(len(argv)))
    for i in it:
        arg = argv[i]
        if arg in _CONFIG_FLAGS and i + 1 < len(argv):
            out += [arg, argv[i + 1]]
            next(it, None)
        elif arg.split("=", 1)[0] in _CONFIG_FLAGS and "=" in arg:
            out.append(arg)
    return out


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def is_sweep_override(override: str) -> bool:
    """True for a Hydra override that only the sweep (or the re-launch itself) may set."""
    key = _override_key(override)
    return any(key == k or key.startswith(k + ".") or key.startswith(k + "@") for k in _SWEEP_KEYS)


def quote_override(value: str) -> str:
    """``value`` as a quoted Hydra override value (any character allowed)."""
    # Hydra's override grammar: a quoted string may hold any character but its own unescaped quote.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Set by a launcher whose jobs run in processes of their own (a Ray worker, where ``__main__`` is Ray's worker
# script): the driver's entry point and arguments as a JSON list (``entry_point()[1:] + sys.argv[1:]``).
ENTRY_ENV = "COLORIZATION_ENTRY_ARGV"


def _driver_argv() -> list[str] | None:
    value = os.environ.get(ENTRY_ENV)
    return [str(a) for a in json.loads(value)] if value else None


def entry_point() -> list[str]:
    """``[python, <script>]`` or ``[python, -m, <module>]``: how the driver of this job was started (from
    :data:`ENTRY_ENV` when a launcher passed it on, else from this process's ``__main__``)."""
    import __main__  # imported here, as Lightning does: the main module may change after import (Lightning #15218)

    passed = _driver_argv()
    if passed is not None:
        return [sys.executable, *passed[:2]] if passed[0] == "-m" else [sys.executable, passed[0]]
    spec = getattr(__main__, "__spec__", None)
    if spec is None:
        return [sys.executable, os.path.abspath(sys.argv[0])]
    return [sys.executable, "-m", spec.name]


def driver_argv() -> list[str]:
    """The driver's entry point and arguments (``[script, *args]`` or ``[-m, module, *args]``), for
    :data:`ENTRY_ENV`."""
    return _driver_argv() or [*entry_point()[1:], *sys.argv[1:]]


def child_command(local_rank: int, argv: Sequence[str] | None = None) -> tuple[list[str], str]:
    """``(command, cwd)`` for rank ``local_rank`` of the current Hydra job; call inside a Hydra app.

    The child runs in the job's original working dir (so ``paths.root_dir`` is the same), writes into the job's
    output dir (``hydra.run.dir``), logs to ``<job name>_rank<r>.log`` there and writes no ``.hydra/`` copy.
    """
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    if argv is None:
        passed = _driver_argv()
        argv = sys.argv[1:] if passed is None else passed[2 if passed[0] == "-m" else 1:]
    task = list(hc.overrides.task)
    hydra_overrides = [o for o in hc.overrides.hydra if not is_sweep_override(o)]
    own = [
        # A config may ask for a sweep itself (an experiment with hydra.mode: MULTIRUN): the child never does.
        "hydra.mode=RUN",
        f"hydra.run.dir={quote_override(str(hc.runtime.output_dir))}",
        f"hydra.job.name={quote_override(f'{hc.job.name}_rank{local_rank}')}",
        "hydra.output_subdir=null",
    ]
    if hc.job.get("num") is not None:
        own.append(f"hydra.job.num={int(hc.job.num)}")
    if hc.job.get("id") not in (None, "???"):
        own.append(f"hydra.job.id={quote_override(str(hc.job.id))}")
    command = entry_point() + config_arguments(argv) + task + hydra_overrides + own
    return command, str(hc.runtime.cwd)
