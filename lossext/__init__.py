"""lossext: fused C++/CUDA loss kernels for PyTorch.

>>> import lossext
>>> loss = lossext.cross_entropy(logits, target, label_smoothing=0.1)
"""

from lossext import _ops, distributed, functional, nn, reference  # noqa: F401  (_ops registers fake kernels and autograd)
from lossext._errors import ArgumentError
from lossext._ext import LossextFallbackWarning, build_info
from lossext._version import __version__
from lossext.functional import *  # noqa: F401,F403
from lossext.functional import __all__ as _functional_all

__all__ = [
    "__version__",
    "build_info",
    "ArgumentError",
    "LossextFallbackWarning",
    "distributed",
    "functional",
    "nn",
    "reference",
    *_functional_all,
]
