"""The public loss functions. Each validates its arguments, runs the fused
kernel for the input's device when one is compiled in (the reference with a
one-time warning otherwise) and applies the reduction.

Every public module of this package is imported and its functions exported
(see lossext/_exports.py)."""

from lossext._exports import export_modules

__all__ = export_modules(__name__, __path__, globals())
