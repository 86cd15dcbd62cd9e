import torch
from torch import nn

from lossext import functional as F


class TotalVariationLoss(nn.Module):
    """Total variation per image plane (``kornia.losses.TotalVariation``);
    see :func:`lossext.total_variation_loss`."""

    def __init__(
        self, reduction: str = "sum", isotropic: bool = False, beta: float = 1.0, eps: float = 0.0
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.isotropic = isotropic
        self.beta = beta
        self.eps = eps

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return F.total_variation_loss(img, self.reduction, self.isotropic, self.beta, self.eps)
