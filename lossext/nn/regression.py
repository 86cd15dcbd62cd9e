import torch
from torch import nn

from lossext import functional as F


class SmoothL1Loss(nn.Module):
    """``torch.nn.SmoothL1Loss`` on the fused kernel; see :func:`lossext.smooth_l1_loss`."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.beta = beta

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(nn.Module):
    """``torch.nn.HuberLoss`` on the fused kernel; see :func:`lossext.huber_loss`."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.delta = delta

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)
