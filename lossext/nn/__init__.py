"""nn.Module wrappers with the constructor arguments of their torch.nn peers."""

from lossext.nn.box import BoxIoULoss, CompleteBoxIoULoss, DistanceBoxIoULoss, GeneralizedBoxIoULoss
from lossext.nn.cross_entropy import CrossEntropyLoss

__all__ = [
    "CrossEntropyLoss",
    "BoxIoULoss",
    "GeneralizedBoxIoULoss",
    "DistanceBoxIoULoss",
    "CompleteBoxIoULoss",
]
