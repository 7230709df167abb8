"""The loss registry and the interface every colorization loss follows.

A loss owns the network head: its width (``out_channels``), its resolution (``output_stride``: 1 = full size,
4 = a quarter, as Zhang et al.) and the way its output becomes ab (``decode``), so any model pairs with any loss:
``create_model(name, out_channels=loss.out_channels, output_stride=loss.output_stride)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from colorization.losses.resolution import check_stride, head_size, pool_to_stride, upsample_from_stride

__all__ = ["ColorizationLoss", "create_loss", "list_losses", "register_loss"]


class ColorizationLoss(nn.Module):
    """Base class: ``forward(pred, target_ab) -> scalar``, ``decode(pred) -> ab`` and ``decode_full``.

    Shapes, with ``s = output_stride`` and ``h, w = ceil(H/s), ceil(W/s)``: ``pred`` ``[B, out_channels, h, w]``
    (the raw head, no activation); ``target_ab`` ``[B, 2, H, W]`` at full size, normalised (ab*/128, about
    [-1, 1]): the loss brings it to the head's grid itself (:meth:`target_at_head`); ``decode`` returns
    ``[B, 2, h, w]`` and ``decode_full`` ``[B, 2, H, W]``, in the same normalised units.

    Args:
        output_stride: the head's resolution, a power of two (1 = full size). Stored with the loss's config in
            checkpoints, so the loader rebuilds the network at the same stride.
    """

    out_channels: int = 2
    needs_prior: bool = False  # True when the loss wants the training set's ab prior via set_prior()

    def __init__(self, output_stride: int = 1) -> None:
        super().__init__()
        self.output_stride = check_stride(output_stride)

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

    def target_at_head(self, target_ab: torch.Tensor) -> torch.Tensor:
        """Full-size ab ``[B,2,H,W]`` -> ``[B,2,h,w]``, each head cell's mean ab (itself when ``s = 1``)."""
        return pool_to_stride(target_ab, self.output_stride)

    def decode_full(self, pred: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Head ``[B,out_channels,h,w]`` -> ab ``[B,2,H,W]`` at the image's ``size = (H, W)``, normalised.

        What every metric, picture and export sees: :meth:`decode` on the head's grid, then bilinear up to full
        size (nothing to do when ``s = 1``). The true L stays full resolution throughout.
        """
        return upsample_from_stride(self.decode(pred), self.output_stride, (size[0], size[1]))

    def _check_shapes(self, pred: torch.Tensor, target_ab: torch.Tensor) -> None:
        if pred.ndim != 4 or pred.shape[1] != self.out_channels:
            raise ValueError(
                f"{type(self).__name__} expects pred [B,{self.out_channels},H,W], got {tuple(pred.shape)}; "
                f"build the model with out_channels=loss.out_channels"
            )
        want = head_size(target_ab.shape[-2], target_ab.shape[-1], self.output_stride) if target_ab.ndim == 4 else ()
        if target_ab.ndim != 4 or target_ab.shape[1] != 2 or tuple(pred.shape[-2:]) != want:
            raise ValueError(
                f"target_ab must be full-size [B,2,H,W] whose stride-{self.output_stride} grid is the prediction's "
                f"{tuple(pred.shape[-2:])}, got {tuple(target_ab.shape)}; build the model with "
                f"output_stride=loss.output_stride"
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
