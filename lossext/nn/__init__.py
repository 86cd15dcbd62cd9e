"""nn.Module wrappers with the constructor arguments of their torch.nn peers.

The module classes of the fused families (lossext/losses/) and of every
public module of this package are exported (see lossext/_exports.py)."""

from lossext._exports import export_modules, is_module_class
from lossext.losses import family_modules

__all__ = export_modules(__name__, __path__, globals(), also=family_modules(), keep=is_module_class)
