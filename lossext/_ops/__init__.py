"""Fake (meta) kernels and autograd for the compiled ops, registered through
torch.library so that torch.compile and torch.library.opcheck see them.
Each family module of lossext.losses declares its ops as data (``SPECS``,
see _spec.py); the registrations are derived from them here. Nothing happens without _C."""

from lossext._ext import _C

if _C is not None:
    from lossext._ops._spec import register_all

    register_all()
