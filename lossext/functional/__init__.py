"""The public loss functions. Each validates its arguments, runs the fused
kernel for the input's device when one is compiled in (the reference with a
one-time warning otherwise) and applies the reduction."""

from lossext.functional.box import (
    box_iou,
    box_iou_loss,
    complete_box_iou,
    complete_box_iou_loss,
    distance_box_iou,
    distance_box_iou_loss,
    generalized_box_iou,
    generalized_box_iou_loss,
)
from lossext.functional.cross_entropy import cross_entropy
from lossext.functional.regression import huber_loss, smooth_l1_loss

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
