"""nn.Module wrappers with the constructor arguments of their torch.nn peers."""

from lossext.nn.box import BoxIoULoss, CompleteBoxIoULoss, DistanceBoxIoULoss, GeneralizedBoxIoULoss
from lossext.nn.cross_entropy import CrossEntropyLoss
from lossext.nn.focal import QualityFocalLoss, SigmoidFocalLoss, SoftmaxFocalLoss, VarifocalLoss
from lossext.nn.divergence import KLDivLoss, JSDivLoss
from lossext.nn.catalog import *  # noqa: F401,F403
from lossext.nn.regression import HuberLoss, SmoothL1Loss
from lossext.nn.total_variation import TotalVariationLoss
from lossext.nn.segmentation import DiceCrossEntropyLoss, DiceLoss, JaccardLoss, TverskyLoss
from lossext.nn.monai_dice_ce import DiceCELoss

from lossext._exports import public_names  # noqa: E402

__all__ = public_names(globals(), __name__)
