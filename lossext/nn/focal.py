import torch
from torch import nn

from lossext import functional as F


class SigmoidFocalLoss(nn.Module):
    """Sigmoid focal loss; see :func:`lossext.sigmoid_focal_loss`. ``normalizer``
    is a forward argument (it changes every step)."""

    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        reduction: str = "none",
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.reduction = reduction
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, normalizer=None) -> torch.Tensor:
        return F.sigmoid_focal_loss(
            inputs,
            targets,
            self.alpha,
            self.gamma,
            self.reduction,
            weight=self.weight,
            ignore_index=self.ignore_index,
            normalizer=normalizer,
            label_smoothing=self.label_smoothing,
        )


class SoftmaxFocalLoss(nn.Module):
    """Softmax focal loss; see :func:`lossext.softmax_focal_loss`."""

    def __init__(
        self,
        alpha=None,
        gamma: float = 2.0,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if isinstance(alpha, torch.Tensor):
            self.register_buffer("alpha", alpha)
        else:
            self.alpha = alpha
        self.gamma = gamma
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.softmax_focal_loss(
            input, target, self.alpha, self.gamma, self.weight, self.ignore_index, self.reduction
        )
