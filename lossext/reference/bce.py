"""Sigmoid cross-entropy losses, written out from their formulas.

BCE with logits (torch.nn.functional.binary_cross_entropy_with_logits):
    loss = w [ (1 - t) softplus(x) + pw t softplus(-x) ]
with weight w broadcast to the input's shape and pos_weight pw broadcast
with the target (torch's rule), i.e. torch's (1 - t) x + (1 + (pw - 1) t) softplus(-x).

Quality focal (GFL; mmdet's quality_focal_loss): per element
    B(x, t) |t - sigmoid(x)|^beta,   B = BCE with logits,
with t the score at the label's class and 0 elsewhere (or a dense soft
target), summed over classes.

Varifocal (mmdet's varifocal_loss): per element B(x, t) times
    t (iou_weighted) or 1              where t > 0,
    alpha |sigmoid(x) - t|^gamma       elsewhere.
mmdet's weight_reduce_loss reduces the last two: 'mean' with avg_factor is
sum / (avg_factor + eps).
"""

import torch
import torch.nn.functional as F

from lossext._errors import ArgumentError
from lossext.reference._reduce import reduce
from lossext.reference.focal import _mmdet_reduce


def _upcast(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _bce_elements(x, t, weight=None, pos_weight=None):
    """BCE with logits per element, from softplus (stable for any finite x)."""
    pw = 1 if pos_weight is None else pos_weight
    loss = (1 - t) * F.softplus(x) + pw * t * F.softplus(-x)
    return loss if weight is None else loss * weight


def _focal_elements(x, t, exponent):
    """B(x, t) |sigmoid(x) - t|^exponent: quality focal's element, and
    varifocal's on the negatives (times alpha)."""
    return _bce_elements(x, t) * (x.sigmoid() - t).abs().pow(exponent)


def _varifocal_elements(x, t, alpha, gamma, iou_weighted):
    positive = t > 0
    pos_factor = t if iou_weighted else torch.ones_like(t)
    return torch.where(positive, _bce_elements(x, t) * pos_factor, alpha * _focal_elements(x, t, gamma))


def _dense_quality_target(label, score, classes, dtype):
    """The (N, C) target of the (label, score) form: the score at the
    label's class, 0 elsewhere (a label outside [0, C) is background)."""
    hit = label.unsqueeze(1) == torch.arange(classes, device=label.device)
    return torch.where(hit, score.to(dtype).unsqueeze(1), torch.zeros((), dtype=dtype, device=label.device))


def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction="mean", pos_weight=None, normalizer=None
):
    dtype = torch.promote_types(input.dtype, target.dtype)
    x, t = _upcast(input.to(dtype)), _upcast(target.to(dtype))
    loss = _bce_elements(x, t, weight, pos_weight)
    if loss.shape != input.shape:
        raise ArgumentError(
            f"weight / pos_weight broadcast the loss to {tuple(loss.shape)}, not {tuple(input.shape)}"
        )
    if normalizer is not None:
        out = loss if reduction == "none" else loss.sum()
        return (out / normalizer).to(dtype)
    return reduce(loss, reduction).to(dtype)


def quality_focal_loss(pred, target, weight=None, beta=2.0, reduction="mean", avg_factor=None):
    x = _upcast(pred)
    if isinstance(target, torch.Tensor):
        t = target.to(x.dtype)
    else:
        label, score = target
        t = _dense_quality_target(label, score, x.shape[1], x.dtype)
    elements = _focal_elements(x, t, beta)
    if weight is not None and weight.dim() == 2:
        # A per-element weight weighs each class before the sum over classes.
        return _mmdet_reduce((elements * weight).sum(dim=1), None, reduction, avg_factor).to(pred.dtype)
    return _mmdet_reduce(elements.sum(dim=1), weight, reduction, avg_factor).to(pred.dtype)


def varifocal_loss(
    pred, target, weight=None, alpha=0.75, gamma=2.0, iou_weighted=True, reduction="mean", avg_factor=None
):
    x = _upcast(pred)
    loss = _varifocal_elements(x, target.to(x.dtype), alpha, gamma, iou_weighted)
    return _mmdet_reduce(loss, weight, reduction, avg_factor).to(pred.dtype)
