"""The project's own exception type for a bad option (the user error: one line, no traceback), and the checks that
raise it.

A message is one sentence naming the option as a user sets it (``model.width=-1``), its value and what is
allowed, so :func:`colorization.runs.job.describe_error` puts it as-is in ``job_status.json``. Each value is
checked where it is consumed (a constructor validates its own arguments, as torch and timm do); the ``require_*``
helpers keep those sentences alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real


class ConfigError(ValueError):
    """A config option holds a value the code cannot use; the message names the option, the value and the fix."""


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def require_int(option: str, value: object, meaning: str, *, minimum: int = 1) -> int:
    """``value`` as an int when it is a whole number ``>= minimum``, else a :class:`ConfigError` naming ``option``.

    ``meaning`` says what the option is for, e.g. "the number of channels of the first layer".
    """
    if not _is_int(value) or value < minimum:
        allowed = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        raise ConfigError(f"{option}={value!r}: must be {allowed} ({meaning})")
    return int(value)


def require_ints(option: str, values: object, meaning: str, *, minimum: int = 1) -> list[int]:
    """A non-empty sequence of whole numbers ``>= minimum`` as a list, else a :class:`ConfigError`."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values or not all(
            _is_int(v) and v >= minimum for v in values):
        shown = list(values) if isinstance(values, Sequence) and not isinstance(values, str) else values
        allowed = "positive integers" if minimum == 1 else f"integers >= {minimum}"
        raise ConfigError(f"{option}={shown!r}: must be a non-empty list of {allowed} ({meaning})")
    return [int(v) for v in values]


def require_number(option: str, value: object, meaning: str, *, low: float | None = 0.0, low_open: bool = False,
                   high: float | None = None, high_open: bool = False) -> float:
    """``value`` as a float when it is a finite number in the range ``low .. high``, else a :class:`ConfigError`.

    Either end is left out when ``None``, and excluded when its ``*_open`` flag is set: ``low=0, low_open=True``
    means "> 0", ``low=0, high=1, high_open=True`` means "in [0, 1)".
    """
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is not None and high is not None:
            allowed = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            allowed = f"{'>' if low_open else '>='} {low:g}"
        else:
            allowed = f"{'<' if high_open else '<='} {high:g}"
        raise ConfigError(f"{option}={value!r}: must be a number {allowed} ({meaning})")
    return float(value)


def require_choice(option: str, value: object, allowed: Sequence[object], meaning: str) -> None:
    """A :class:`ConfigError` naming ``option`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{option}={value!r}: must be one of {', '.join(map(str, allowed))} ({meaning})")


class LossDivergedError(RuntimeError):
    """The training (or validation) loss became NaN or infinite: the run cannot recover, so it stops.

    The message is one sentence naming the step, the loss value and the options to look at; the job ends with
    status ``diverged`` (:mod:`colorization.runs.job`).
    """


class GPUSupportError(SystemExit):
    """The installed torch cannot drive this machine's GPU (no kernels for its architecture, or a driver too old
    for torch's CUDA); the message is one sentence saying which torch build to install.

    An exit rather than an exception: it is raised while the config resolves (``${colorization.precision:auto}``),
    where OmegaConf would wrap an exception in its own; and no job of a sweep can run on that GPU either. The
    command ends with the sentence alone on stderr, exit status 1, and the job's status file names it.
    """


def cause_chain(e: BaseException) -> list[BaseException]:
    """``e`` and the exceptions it was raised from (``raise ... from``), outermost first."""
    chain = [e]
    while chain[-1].__cause__ is not None and chain[-1].__cause__ not in chain:
        chain.append(chain[-1].__cause__)
    return chain


def user_error(e: BaseException) -> ConfigError | None:
    """The :class:`ConfigError` behind ``e`` (``e`` itself or what it was raised from, e.g. the one under Hydra's
    ``InstantiationException``), or ``None`` when ``e`` is a bug. A user error is shown as its one line; a bug
    keeps its traceback."""
    return next((x for x in cause_chain(e) if isinstance(x, ConfigError)), None)
