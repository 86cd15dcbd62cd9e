"""nn.Module wrappers with the constructor arguments of their torch.nn peers."""

from lossext.nn.box import BoxIoULoss, CompleteBoxIoULoss, DistanceBoxIoULoss, GeneralizedBoxIoULoss
from lossext.nn.cross_entropy import CrossEntropyLoss
from lossext.nn.focal import QualityFocalLoss, SigmoidFocalLoss, SoftmaxFocalLoss, VarifocalLoss
from lossext.nn.divergence import KLDivLoss, JSDivLoss
from lossext.nn import catalog as _catalog
from lossext.nn.catalog import *  # noqa: F401,F403

from lossext.nn.regression import HuberLoss, SmoothL1Loss

__all__ = ["SigmoidFocalLoss", "SoftmaxFocalLoss", "QualityFocalLoss", "VarifocalLoss", "CrossEntropyLoss", "KLDivLoss", "JSDivLoss", *_catalog.__all__, "BoxIoULoss", "GeneralizedBoxIoULoss", "DistanceBoxIoULoss", "CompleteBoxIoULoss", "SmoothL1Loss", "HuberLoss"]

from lossext.nn.total_variation import TotalVariationLoss  # noqa: E402

__all__ += ["TotalVariationLoss"]
from lossext.nn.segmentation import DiceCELoss, DiceLoss, JaccardLoss, TverskyLoss  # noqa: E402

__all__ += ["DiceLoss", "JaccardLoss", "TverskyLoss", "DiceCELoss"]
