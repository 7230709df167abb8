"""The loss registry and the interface every colorization loss follows.

A loss owns the network head's width (``out_channels``) and the way the head's output becomes ab
(``decode``), so any model pairs with any loss: ``create_model(name, out_channels=loss.out_channels)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = ["ColorizationLoss", "create_loss", "list_losses", "register_loss"]


class ColorizationLoss(nn.Module):
    """Base class: ``forward(pred, target_ab) -> scalar`` and ``decode(pred) -> ab``.

    Shapes: ``pred`` ``[B, out_channels, H, W]`` (the raw head, no activation); ``target_ab`` ``[B, 2, H, W]``
    normalised (ab*/128, about [-1, 1]); ``decode`` returns ``[B, 2, H, W]`` in the same normalised units.
    """

    out_channels: int = 2
    needs_prior: bool = False  # True when the loss wants the training set's ab prior via set_prior()

    def forward(self, pred: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def decode(self, pred: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    @property
    def has_prior(self) -> bool:
        """Whether a prior was set (or loaded with a state_dict); always False for losses that need none."""
        return False

    def set_prior(self, prior: torch.Tensor) -> None:
        """Receive the empirical ab-bin distribution ``[313]`` of the training set; ignored by default."""

    def _check_shapes(self, pred: torch.Tensor, target_ab: torch.Tensor) -> None:
        if pred.ndim != 4 or pred.shape[1] != self.out_channels:
            raise ValueError(
                f"{type(self).__name__} expects pred [B,{self.out_channels},H,W], got {tuple(pred.shape)}; "
                f"build the model with out_channels=loss.out_channels"
            )
        if target_ab.ndim != 4 or target_ab.shape[1] != 2 or target_ab.shape[-2:] != pred.shape[-2:]:
            raise ValueError(
                f"target_ab must be [B,2,H,W] with the prediction's size {tuple(pred.shape[-2:])}, "
                f"got {tuple(target_ab.shape)}"
            )


_LOSSES: dict[str, Callable[..., ColorizationLoss]] = {}


def register_loss(name: str) -> Callable[[Callable[..., ColorizationLoss]], Callable[..., ColorizationLoss]]:
    """Class decorator: make a loss available as ``create_loss(name, **kw)``."""

    def deco(cls: Callable[..., ColorizationLoss]) -> Callable[..., ColorizationLoss]:
        if name in _LOSSES and _LOSSES[name] is not cls:
            raise ValueError(f"loss {name!r} is already registered")
        _LOSSES[name] = cls
        return cls

    return deco


def list_losses() -> list[str]:
    """Registered loss names, sorted."""
    return sorted(_LOSSES)


def create_loss(name: str, **kwargs: Any) -> ColorizationLoss:
    """Build the loss registered as ``name`` (``l1``, ``mse``, ``huber``, ``ce``, ``gan``) with keyword arguments."""
    if name not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(list_losses())}")
    return _LOSSES[name](**kwargs)
