"""nn.Module wrappers with the constructor arguments of their torch.nn peers."""

from lossext.nn.cross_entropy import CrossEntropyLoss
from lossext.nn.divergence import KLDivLoss, JSDivLoss

__all__ = ["CrossEntropyLoss", "KLDivLoss", "JSDivLoss"]
