"""The pure-PyTorch oracle: every lossext loss written from its formula,
readable above all. Tests compare the kernels with it and it is the fallback
where no kernel exists. Same signatures as the public functions."""

from lossext.reference.cross_entropy import cross_entropy
from lossext.reference.divergence import kl_div, js_div

__all__ = ["cross_entropy", "kl_div", "js_div"]
