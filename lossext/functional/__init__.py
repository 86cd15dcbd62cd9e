"""The public loss functions. Each validates its arguments, runs the fused
kernel for the input's device when one is compiled in (the reference with a
one-time warning otherwise) and applies the reduction.

The functions of the fused families (lossext/losses/) and of every public
module of this package (the pure-PyTorch catalog) are exported (see
lossext/_exports.py)."""

from lossext._exports import export_modules, is_function
from lossext.losses import family_modules

__all__ = export_modules(__name__, __path__, globals(), also=family_modules(), keep=is_function)
