"""The pure-PyTorch oracle: every lossext loss written from its formula,
readable above all. Tests compare the kernels with it and it is the fallback
where no kernel exists. Same names and signatures as the public functions.

Every public module of this package is imported and its functions exported
(see lossext/_exports.py)."""

from lossext._exports import export_modules

__all__ = export_modules(__name__, __path__, globals())
