"""Regression losses on ab: the head predicts ab directly (2 channels, no activation).

No tanh in the head: the same backbone serves the 313-logit classification loss, where a squashing
activation would be wrong, and a linear head regresses fine. ``decode`` only clamps to the valid
normalised ab range [-1, 1] so out-of-range outputs cannot leak into pictures or metrics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from colorization.errors import require_number
from colorization.losses.registry import ColorizationLoss, register_loss

__all__ = ["HuberLoss", "L1Loss", "MSELoss", "RegressionLoss"]


class RegressionLoss(ColorizationLoss):
    """Common part: 2 output channels, decode = clamp to [-1, 1], full resolution unless ``output_stride`` says
    otherwise (then the head regresses each cell's mean ab)."""

    out_channels = 2
    needs_prior = False

    def __init__(self, output_stride: int = 1) -> None:
        super().__init__(output_stride)

    def decode(self, pred: torch.Tensor) -> torch.Tensor:
        """``pred`` ``[B,2,H,W]`` -> ab ``[B,2,H,W]`` clamped to [-1, 1] (normalised ab*/128)."""
        return pred.clamp(-1.0, 1.0)


@register_loss("l1")
class L1Loss(RegressionLoss):
    """Mean absolute error on normalised ab."""

    def forward(self, pred: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
        self._check_shapes(pred, target_ab)
        return F.l1_loss(pred.float(), self.target_at_head(target_ab).float())


@register_loss("mse")
class MSELoss(RegressionLoss):
    """Mean squared error on normalised ab (the classic, sepia-prone baseline)."""

    def forward(self, pred: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
        self._check_shapes(pred, target_ab)
        return F.mse_loss(pred.float(), self.target_at_head(target_ab).float())


@register_loss("huber")
class HuberLoss(RegressionLoss):
    """Huber loss on normalised ab; quadratic below ``delta``, linear above.

    Args:
        delta: the switch point in normalised ab units (0.1 = about 13 ab* units); torch's default of 1.0
            would make it MSE for nearly every pixel, since |ab| <= 1.
    """

    def __init__(self, delta: float = 0.1, output_stride: int = 1) -> None:
        super().__init__(output_stride)
        self.delta = require_number("loss.delta", delta, "where huber turns linear, normalised ab units",
                                    low_open=True)

    def forward(self, pred: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
        self._check_shapes(pred, target_ab)
        return F.huber_loss(pred.float(), self.target_at_head(target_ab).float(), delta=self.delta)

    def extra_repr(self) -> str:
        return f"delta={self.delta}, output_stride={self.output_stride}"
