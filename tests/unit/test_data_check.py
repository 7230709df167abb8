"""A missing, empty or incomplete data source fails before the model and the trainer are built (they take ~10 s),
with the sentence naming the file, in the job's status too."""

from __future__ import annotations

import json
import time

import pytest

from colorization.errors import ConfigError
from colorization.training.module import ColorizationModule
from tests.support.in_process import train_in_process


@pytest.fixture
def no_module(monkeypatch):
    """Building the LightningModule (and so the network) is a test failure: the data check must come first."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("the module was built before the data source was checked")

    monkeypatch.setattr(ColorizationModule, "__init__", refuse)


def failing_train(tmp_path, overrides: list[str]) -> tuple[BaseException, str, float]:
    """Run train() in-process, expecting it to fail: (the error, job_status.json's error line, seconds taken)."""
    start = time.perf_counter()
    with pytest.raises(Exception) as raised:  # noqa: PT011 - each test checks the type and sentence
        train_in_process(overrides, tmp_path / "run", tmp_path / "data")
    seconds = time.perf_counter() - start
    status = json.loads((tmp_path / "run" / "job_status.json").read_text())
    return raised.value, status["error"], seconds


@pytest.mark.usefixtures("no_module")
def test_a_missing_folder_fails_at_once(tmp_path):
    missing = tmp_path / "nope"
    error, line, seconds = failing_train(tmp_path, ["data=folder", f"data.root={missing}"])
    assert isinstance(error, ConfigError)
    assert line == f"DatasetError: data.root={missing}: no such folder; pass a folder of colour photos (searched " \
                   "recursively)"
    assert seconds < 3.0, f"{seconds:.1f} s to report a missing folder"


@pytest.mark.usefixtures("no_module")
def test_an_empty_folder_fails_at_once(tmp_path):
    empty = tmp_path / "photos"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no photos here")
    _, line, _ = failing_train(tmp_path, ["data=folder", f"data.root={empty}"])
    assert line == f"DatasetError: no usable colour images under {empty} (0 grayscale, 0 unreadable)"


@pytest.mark.usefixtures("no_module")
def test_a_kaggle_root_without_its_arrays_fails_at_once(tmp_path):
    root = tmp_path / "kaggle"
    (root / "ab" / "ab").mkdir(parents=True)
    _, line, _ = failing_train(tmp_path, ["data=kaggle", f"data.root={root}"])
    assert line.startswith(f"DatasetError: missing file {root / 'l' / 'gray_scale.npy'}: expected"), line


@pytest.mark.usefixtures("no_module")
def test_a_bad_option_fails_before_the_source_is_read(tmp_path):
    """Options first (instant), then the source: a mistyped option is reported even with no data at all."""
    _, line, seconds = failing_train(tmp_path, ["data=folder", f"data.root={tmp_path / 'nope'}",
                                                "optimizer.lr=-0.001"])
    assert line == "ConfigError: optimizer.lr=-0.001: must be a number > 0 (the learning rate)"
    assert seconds < 3.0


@pytest.mark.usefixtures("no_module")
def test_a_missing_kaggle_root_names_the_option(tmp_path):
    missing = tmp_path / "kaggle"
    _, line, _ = failing_train(tmp_path, ["data=kaggle", f"data.root={missing}"])
    assert line == (f"DatasetError: data.root={missing}: no such folder; pass the folder that holds l/gray_scale.npy "
                    "and ab/ab/ab1.npy ... (the Kaggle download's layout)")
