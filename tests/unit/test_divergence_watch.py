"""DivergenceWatch: the first non-finite loss is noted on the device, without a host sync, and reported in one
sentence naming the step, the value and the options to look at."""

from __future__ import annotations

import math

import pytest
import torch

from colorization.errors import LossDivergedError
from colorization.training.divergence import DivergenceWatch, require_finite


def test_finite_losses_pass_the_check():
    watch = DivergenceWatch("l1")
    for step in range(5):
        watch.note(torch.tensor(0.5 / (step + 1)), step, 0)
    assert watch.first() is None
    watch.check()  # nothing raised


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_the_first_non_finite_loss_is_the_one_reported(bad):
    watch = DivergenceWatch("mse")
    watch.note(torch.tensor(0.3), 10, 2)
    watch.note(torch.tensor(bad), 11, 2)
    watch.note(torch.tensor(math.nan), 12, 3)  # later ones do not overwrite the first
    step, epoch, value = watch.first()
    assert (step, epoch) == (11, 2)
    assert value == bad or (math.isnan(bad) and math.isnan(value))
    with pytest.raises(LossDivergedError) as err:
        watch.check()
    shown = "nan" if math.isnan(bad) else ("inf" if bad > 0 else "-inf")
    assert str(err.value) == (f"the training loss diverged (it was {shown} at step 11, epoch 2); lower optimizer.lr, "
                              "train in full precision (trainer.precision=32-true) or check the loss "
                              "(loss=mse and its settings)")


def test_noting_never_reads_the_loss_back_to_the_host(monkeypatch):
    """``note`` is device work only: no ``item()``, ``tolist()`` or bool() of a tensor."""
    watch = DivergenceWatch("l1")
    calls = []
    for name in ("item", "tolist", "__bool__", "__float__", "cpu"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: (calls.append(_n),
                                                                                             _o(self, *a, **k))[1])
    for step in range(20):
        watch.note(torch.tensor(math.nan if step == 7 else 1.0), step, 0)
    monkeypatch.undo()
    assert calls == []
    assert watch.first()[:2] == (7, 0)


def test_another_ranks_divergence_stops_this_rank_too():
    watch = DivergenceWatch("l1")
    watch.note(torch.tensor(1.0), 0, 0)
    with pytest.raises(LossDivergedError, match="diverged on another rank; lower optimizer.lr"):
        watch.check(any_rank=True)


def test_reset_forgets_what_was_noted():
    watch = DivergenceWatch("l1")
    watch.note(torch.tensor(math.nan), 3, 0)
    watch.reset()
    assert watch.first() is None


def test_require_finite_names_the_validation_loss():
    require_finite(torch.tensor(2.0), "validation", 4, 1, "l1")
    with pytest.raises(LossDivergedError, match=r"^the validation loss diverged \(it was nan at step 4, epoch 1\)"):
        require_finite(torch.tensor(math.nan), "validation", 4, 1, "l1")
