"""A user error (a ConfigError, or an error raised from one) is one line on the console and its traceback is in the
job's log file only; a bug keeps its traceback; ``HYDRA_FULL_ERROR=1`` puts tracebacks back on the console."""

from __future__ import annotations

import io
import logging

import pytest
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from colorization.data.kaggle import DatasetError
from colorization.errors import ConfigError, user_error
from colorization.io.checkpoints import CheckpointError
from colorization.models.weights import WeightsUnavailableError
from colorization.runs.user_errors import run_command


def test_user_errors_are_config_errors_also_under_a_wrapper():
    for error in (ConfigError("x"), DatasetError("d"), CheckpointError("c"), WeightsUnavailableError("w")):
        assert user_error(error) is error
    inner = ConfigError("model.width=-1: must be a positive integer")
    try:
        try:
            raise inner
        except ConfigError as e:
            raise InstantiationException("Error in call to target 'x'") from e
    except InstantiationException as wrapper:
        assert user_error(wrapper) is inner
    try:
        try:
            raise inner
        except ConfigError:
            raise RuntimeError("a bug while handling it")  # noqa: B904 - implicit context, not a cause
    except RuntimeError as bug:
        assert user_error(bug) is None


@pytest.fixture
def console_and_log(tmp_path):
    """The root logger's handlers as Hydra sets them up for a job: the console and the job's log file."""
    root = logging.getLogger()
    console = io.StringIO()
    handlers = [logging.StreamHandler(console), logging.FileHandler(tmp_path / "train.log")]
    saved, level = root.handlers[:], root.level
    root.handlers[:] = handlers
    root.setLevel(logging.INFO)
    yield console, tmp_path / "train.log"
    for handler in handlers:
        handler.close()
    root.handlers[:], root.level = saved, level


def _cfg(tmp_path):
    return OmegaConf.create({"paths": {"output_dir": str(tmp_path)}})


def _fail_with(error: Exception):
    def task(cfg):
        raise error
    return task


def test_a_user_error_is_one_line_on_the_console_and_its_traceback_in_the_log(tmp_path, console_and_log,
                                                                               monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    console, log_file = console_and_log
    with pytest.raises(SystemExit) as stopped:
        run_command(_cfg(tmp_path), _fail_with(DatasetError("data.root=/nope: no such folder")))
    assert stopped.value.code == 1
    errors = [line for line in console.getvalue().splitlines() if "nope" in line or "Traceback" in line]
    assert errors == ["job failed: DatasetError: data.root=/nope: no such folder"]
    assert "Traceback (most recent call last)" in log_file.read_text()


def test_a_bug_keeps_its_traceback_and_full_error_shows_a_user_errors(tmp_path, console_and_log, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(ZeroDivisionError):  # to Hydra, which prints it
        run_command(_cfg(tmp_path), _fail_with(ZeroDivisionError("division by zero")))
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):
        run_command(_cfg(tmp_path), _fail_with(ConfigError("optimizer.lr=-1: must be a number > 0")))
