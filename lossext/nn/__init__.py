"""nn.Module wrappers with the constructor arguments of their torch.nn peers."""

from lossext.nn.cross_entropy import CrossEntropyLoss
from lossext.nn.focal import QualityFocalLoss, SigmoidFocalLoss, SoftmaxFocalLoss, VarifocalLoss

__all__ = ["CrossEntropyLoss", "SigmoidFocalLoss", "SoftmaxFocalLoss", "QualityFocalLoss", "VarifocalLoss"]
