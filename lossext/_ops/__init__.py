"""Fake (meta) kernels and autograd for the compiled ops, registered through
torch.library so that torch.compile and torch.library.opcheck see them.
Importing a family module registers its ops; nothing happens without _C."""

from lossext._ext import _C

if _C is not None:
    from lossext._ops import cross_entropy  # noqa: F401
    from lossext._ops import focal  # noqa: F401
    from lossext._ops import divergence  # noqa: F401
    from lossext._ops import box  # noqa: F401
    from lossext._ops import regression  # noqa: F401
    from lossext._ops import total_variation  # noqa: F401
    from lossext._ops import segmentation  # noqa: F401
