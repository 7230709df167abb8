"""Stop a run whose loss became NaN or infinite, without a host sync per training step.

A diverged loss poisons the weights at the next optimizer step, and from then on every number the run makes is
NaN: the metrics, ``metrics.json``, the sample grids. :class:`DivergenceWatch` notes the first non-finite loss on
the loss's own device (a few element-wise kernels, no ``.item()``), and :meth:`DivergenceWatch.check` reads that
note back, one host sync, where the module chooses: when Lightning already syncs (its logging interval), before
validation (so no NaN reaches a sample grid) and at the end of each training epoch.
"""

from __future__ import annotations

import math

import torch

from colorization.errors import LossDivergedError

__all__ = ["DivergenceWatch", "diverged_message", "require_finite"]


def remedy(loss_name: str) -> str:
    """The options a diverged run should look at first, named as a user sets them."""
    return (f"lower optimizer.lr, train in full precision (trainer.precision=32-true) "
            f"or check the loss (loss={loss_name} and its settings)")


def diverged_message(which: str, value: float, step: int, epoch: int, loss_name: str) -> str:
    """One sentence: ``which`` loss ("training", "validation") was ``value`` at ``step`` (epoch) and what to try."""
    return f"the {which} loss diverged (it was {value:g} at step {step}, epoch {epoch}); {remedy(loss_name)}"


class DivergenceWatch:
    """The first non-finite loss of a run, kept on the device until someone checks.

    State: float32 ``[3]`` = ``(step, epoch, loss value)`` of the first non-finite loss noted, step ``-1`` while
    every loss was finite. Steps up to 2**24 are exact in float32. ``loss_name`` (``l1``) goes into the message.
    """

    def __init__(self, loss_name: str) -> None:
        self.loss_name = loss_name
        self._state: torch.Tensor | None = None

    def reset(self) -> None:
        self._state = None

    def note(self, loss: torch.Tensor, step: int, epoch: int) -> None:
        """Record ``loss`` (a scalar tensor, any device) of ``step`` / ``epoch`` if it is the first non-finite one.

        Device work only: ``step`` and ``epoch`` enter the kernels as scalars, so nothing is copied or waited for.
        """
        loss = loss.detach().reshape(()).float()
        if self._state is None or self._state.device != loss.device:
            self._state = torch.full((3,), -1.0, device=loss.device)
        first = (self._state[0] < 0) & ~torch.isfinite(loss)
        noted = torch.stack([torch.full_like(loss, float(step)), torch.full_like(loss, float(epoch)), loss])
        self._state = torch.where(first, noted, self._state)

    def first(self) -> tuple[int, int, float] | None:
        """``(step, epoch, value)`` of the first non-finite loss noted, or ``None``: one host sync."""
        if self._state is None:
            return None
        step, epoch, value = self._state.tolist()
        return None if step < 0 else (int(step), int(epoch), value)

    def check(self, any_rank: bool | None = None) -> None:
        """Raise :class:`LossDivergedError` if a non-finite loss was noted here, or ``any_rank`` says one was
        noted on another rank (pass the all-reduced decision under DDP so that every rank stops together)."""
        found = self.first()
        if found is not None:
            step, epoch, value = found
            raise LossDivergedError(diverged_message("training", value, step, epoch, self.loss_name))
        if any_rank:
            raise LossDivergedError(f"the training loss diverged on another rank; {remedy(self.loss_name)}")


def require_finite(loss: torch.Tensor, which: str, step: int, epoch: int, loss_name: str) -> None:
    """A :class:`LossDivergedError` unless the scalar ``loss`` is finite (one host sync: call it rarely)."""
    value = float(loss.detach().float())
    if not math.isfinite(value):
        raise LossDivergedError(diverged_message(which, value, step, epoch, loss_name))
