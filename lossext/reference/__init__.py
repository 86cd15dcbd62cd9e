"""The pure-PyTorch oracle: every lossext loss written from its formula,
readable above all. Tests compare the kernels with it and it is the fallback
where no kernel exists. Same signatures as the public functions."""

from lossext.reference import box
from lossext.reference.box import (
    box_iou,
    box_iou_loss,
    complete_box_iou,
    complete_box_iou_loss,
    distance_box_iou,
    distance_box_iou_loss,
    generalized_box_iou,
    generalized_box_iou_loss,
)
from lossext.reference.cross_entropy import cross_entropy
from lossext.reference.regression import huber_loss, smooth_l1_loss

__all__ = [
    "cross_entropy",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
    "box_iou_loss",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
    "smooth_l1_loss",
    "huber_loss",
]
