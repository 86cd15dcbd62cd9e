"""nn.Module wrappers with the constructor arguments of their torch.nn peers."""

from lossext.nn.cross_entropy import CrossEntropyLoss

__all__ = ["CrossEntropyLoss"]
