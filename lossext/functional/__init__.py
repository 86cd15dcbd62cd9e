"""The public loss functions. Each validates its arguments, runs the fused
kernel for the input's device when one is compiled in (the reference with a
one-time warning otherwise) and applies the reduction."""

from lossext.functional.cross_entropy import cross_entropy
from lossext.functional.divergence import kl_div, js_div

__all__ = ["cross_entropy", "kl_div", "js_div"]
