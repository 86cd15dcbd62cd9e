import torch
from torch import nn

from lossext import functional as F


class DistributionFocalLoss(nn.Module):
    """mmdet's DistributionFocalLoss; see :func:`lossext.distribution_focal_loss`."""

    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None) -> torch.Tensor:
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * F.distribution_focal_loss(pred, target, weight, reduction, avg_factor)


class DFLoss(nn.Module):
    """ultralytics' DFLoss (``reg_max`` bins); see :func:`lossext.dfl_loss`."""

    def __init__(self, reg_max: int = 16) -> None:
        super().__init__()
        self.reg_max = reg_max

    def forward(self, pred_dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.dfl_loss(pred_dist, target, self.reg_max)
