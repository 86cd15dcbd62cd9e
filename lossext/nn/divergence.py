from torch import nn

from lossext import functional as F


class KLDivLoss(nn.Module):
    """``torch.nn.KLDivLoss`` on the fused kernel. See :func:`lossext.kl_div`."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, self.reduction, self.log_target)


class JSDivLoss(nn.Module):
    """Generalized Jensen-Shannon divergence (LigerJSD's convention) on the
    fused kernel. See :func:`lossext.js_div`."""

    def __init__(self, beta: float = 0.5, reduction: str = "batchmean", log_target: bool = True) -> None:
        super().__init__()
        self.beta = beta
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input, target):
        return F.js_div(input, target, self.beta, self.reduction, self.log_target)
