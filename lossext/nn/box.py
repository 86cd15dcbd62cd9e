import torch
from torch import nn

from lossext import functional as F


class BoxIoULoss(nn.Module):
    """Aligned-pair IoU-family loss; see :func:`lossext.box_iou_loss`."""

    def __init__(
        self, mode: str = "giou", reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy"
    ) -> None:
        super().__init__()
        self.mode = mode
        self.reduction = reduction
        self.eps = eps
        self.fmt = fmt

    def forward(self, boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
        return F.box_iou_loss(boxes1, boxes2, self.mode, self.reduction, self.eps, self.fmt)


class GeneralizedBoxIoULoss(BoxIoULoss):
    """``torchvision.ops.generalized_box_iou_loss`` as a module."""

    def __init__(self, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy") -> None:
        super().__init__("giou", reduction, eps, fmt)


class DistanceBoxIoULoss(BoxIoULoss):
    """``torchvision.ops.distance_box_iou_loss`` as a module."""

    def __init__(self, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy") -> None:
        super().__init__("diou", reduction, eps, fmt)


class CompleteBoxIoULoss(BoxIoULoss):
    """``torchvision.ops.complete_box_iou_loss`` as a module."""

    def __init__(self, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy") -> None:
        super().__init__("ciou", reduction, eps, fmt)
