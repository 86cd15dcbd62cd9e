"""nn.Module wrappers with the constructor arguments of their torch.nn peers."""

from lossext.nn.box import BoxIoULoss, CompleteBoxIoULoss, DistanceBoxIoULoss, GeneralizedBoxIoULoss
from lossext.nn.cross_entropy import CrossEntropyLoss
from lossext.nn.regression import HuberLoss, SmoothL1Loss

__all__ = [
    "CrossEntropyLoss",
    "BoxIoULoss",
    "GeneralizedBoxIoULoss",
    "DistanceBoxIoULoss",
    "CompleteBoxIoULoss",
    "SmoothL1Loss",
    "HuberLoss",
]
