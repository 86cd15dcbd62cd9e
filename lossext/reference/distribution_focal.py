"""Distribution focal loss (Li et al., "Generalized Focal Loss") from its
formula, as mmdet and ultralytics write it:

    l = floor(y), r = l + 1, wl = r - y, wr = y - l
    loss = CE(pred, l) * wl + CE(pred, r) * wr

mmdet (``distribution_focal_loss``): pred (N, n + 1), label (N,) in [0, n]
(its reg_max n counts intervals). A label exactly n takes the last interval
(l = n - 1, wl = 0), the limit of the formula. ultralytics (``DFLoss``):
pred_dist (N * 4, reg_max), target (N, 4) clamped to [0, reg_max - 1 - 0.01]
(its reg_max counts bins), the mean over the four sides, shape (N, 1).
"""

import torch
import torch.nn.functional as F

from lossext.reference.focal import _mmdet_reduce


def _dfl_rows(pred, label):
    x = pred.double() if pred.dtype == torch.float64 else pred.float()
    y = label.to(x.dtype)
    bins = pred.shape[-1]
    left = y.long().clamp(max=bins - 2)
    right = left + 1
    wl = right.to(x.dtype) - y
    wr = y - left.to(x.dtype)
    return F.cross_entropy(x, left, reduction="none") * wl + F.cross_entropy(x, right, reduction="none") * wr


def distribution_focal_loss(pred, label, weight=None, reduction="mean", avg_factor=None):
    loss = _dfl_rows(pred, label)
    return _mmdet_reduce(loss, weight, reduction, avg_factor).to(pred.dtype)


def dfl_loss(pred_dist, target, reg_max=16):
    y = target.clamp(0, reg_max - 1 - 0.01)
    loss = _dfl_rows(pred_dist, y.reshape(-1)).view(y.shape)
    return loss.mean(-1, keepdim=True).to(pred_dist.dtype)
