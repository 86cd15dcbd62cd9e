"""The pure-PyTorch oracle: every lossext loss written from its formula,
readable above all. Tests compare the kernels with it and it is the fallback
where no kernel exists. Same signatures as the public functions."""

from lossext.reference.cross_entropy import cross_entropy
from lossext.reference.focal import quality_focal_loss, sigmoid_focal_loss, softmax_focal_loss, varifocal_loss

__all__ = ["cross_entropy", "sigmoid_focal_loss", "softmax_focal_loss", "quality_focal_loss", "varifocal_loss"]
