"""The public loss functions. Each validates its arguments, runs the fused
kernel for the input's device when one is compiled in (the reference with a
one-time warning otherwise) and applies the reduction."""

from lossext.functional.cross_entropy import cross_entropy
from lossext.functional.focal import quality_focal_loss, sigmoid_focal_loss, softmax_focal_loss, varifocal_loss

__all__ = ["cross_entropy", "sigmoid_focal_loss", "softmax_focal_loss", "quality_focal_loss", "varifocal_loss"]
