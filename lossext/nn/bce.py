import torch
from torch import nn

from lossext import functional as F
from lossext._errors import ArgumentError


class BCEWithLogitsLoss(nn.Module):
    """``torch.nn.BCEWithLogitsLoss`` (without the deprecated size_average /
    reduce); see :func:`lossext.binary_cross_entropy_with_logits`.
    ``normalizer`` is a forward argument (it changes every step)."""

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        reduction: str = "mean",
        pos_weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor, normalizer=None) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight, normalizer
        )


def _sigmoid_only(use_sigmoid, name):
    if not use_sigmoid:
        raise ArgumentError(f"{name}: only the sigmoid form (use_sigmoid=True) is implemented, as in mmdet")


class QualityFocalLoss(nn.Module):
    """mmdet's ``QualityFocalLoss`` (its constructor; sigmoid, logits only);
    see :func:`lossext.quality_focal_loss`. ``target`` is a (label, score)
    pair or a dense (N, C) soft target, as mmdet's forward dispatches."""

    def __init__(
        self,
        use_sigmoid: bool = True,
        beta: float = 2.0,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        activated: bool = False,
    ) -> None:
        super().__init__()
        _sigmoid_only(use_sigmoid, "QualityFocalLoss")
        if activated:
            raise ArgumentError("QualityFocalLoss: activated=True (probabilities as pred) is not implemented")
        self.use_sigmoid = use_sigmoid
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * F.quality_focal_loss(pred, target, weight, self.beta, reduction, avg_factor)


class VarifocalLoss(nn.Module):
    """mmdet's ``VarifocalLoss`` (its constructor; sigmoid only); see
    :func:`lossext.varifocal_loss`."""

    def __init__(
        self,
        use_sigmoid: bool = True,
        alpha: float = 0.75,
        gamma: float = 2.0,
        iou_weighted: bool = True,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        _sigmoid_only(use_sigmoid, "VarifocalLoss")
        self.use_sigmoid = use_sigmoid
        self.alpha = alpha
        self.gamma = gamma
        self.iou_weighted = iou_weighted
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * F.varifocal_loss(
            pred, target, weight, self.alpha, self.gamma, self.iou_weighted, reduction, avg_factor
        )
