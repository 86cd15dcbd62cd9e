"""nn.Module wrappers with the constructor arguments of their torch.nn peers.

Every public module of this package is imported and its classes exported
(see lossext/_exports.py)."""

from lossext._exports import export_modules

__all__ = export_modules(__name__, __path__, globals())
