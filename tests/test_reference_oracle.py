"""The reference is the oracle the kernels are checked against, so its own
conventions must be the documented ones."""

import math

import torch

import lossext
from lossext import reference
from lossext.reference.box import box_pair_loss


def test_reference_softmax_focal_negative_alpha_is_disabled():
    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    for reduction in ("none", "sum", "mean"):
        without = reference.softmax_focal_loss(x, y, None, reduction=reduction)
        torch.testing.assert_close(reference.softmax_focal_loss(x, y, -1.0, reduction=reduction), without)
        torch.testing.assert_close(lossext.softmax_focal_loss(x, y, -1.0, reduction=reduction), without)


def test_reference_ciou_negative_height_is_float64_exact():
    # Box 1 has a negative height (y2 < y1): atan(w/h) is then shifted by pi,
    # which must be float64's pi, not a float32 pi (8.7e-8 off).
    b1 = torch.tensor([[0.0, 2.0, 1.0, 0.0]], dtype=torch.float64)
    b2 = torch.tensor([[0.0, 0.0, 2.0, 1.0]], dtype=torch.float64)
    ciou = box_pair_loss(b1, b2, "ciou", eps=1e-7).item()
    diou = box_pair_loss(b1, b2, "diou", eps=1e-7).item()
    iou = 1 - box_pair_loss(b1, b2, "iou", eps=1e-7).item()
    v = 4 / math.pi**2 * (math.atan(2.0 / 1.0) - math.atan(1.0 / -2.0)) ** 2
    alpha = v / (1 - iou + v + 1e-7)
    assert abs(ciou - (diou + alpha * v)) < 1e-13
