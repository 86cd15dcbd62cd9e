"""Focal losses, written out from their formulas.

Sigmoid focal (RetinaNet; torchvision.ops.sigmoid_focal_loss for dense targets):
    p = sigmoid(x), p_t = p t + (1-p)(1-t), alpha_t = alpha t + (1-alpha)(1-t)
    loss = w_c alpha_t (1 - p_t)^gamma BCEwithlogits(x, t')
alpha < 0 drops alpha_t; t' = t (1-s) + s/2 is apex's label smoothing, which
only the BCE term sees. Index targets (shape inputs.shape[:-1]) stand for
the one-hot t: c in [0, C) positive, -1 background, ignore_index nothing.

Softmax focal:  -alpha_y w_y (1 - p_y)^gamma log p_y, p = softmax(x) over dim 1.

Quality focal (GFL) and varifocal follow mmdet's quality_focal_loss and
varifocal_loss; see lossext.losses.focal for the conventions.
"""

import torch
import torch.nn.functional as F

from lossext.reference._reduce import reduce
from lossext._errors import ArgumentError


def _upcast(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _one_hot(index: torch.Tensor, classes: int, dtype) -> torch.Tensor:
    # -1 and ignore_index match no class, so their rows are all zeros.
    return (index.unsqueeze(-1) == torch.arange(classes, device=index.device)).to(dtype)


def sigmoid_focal_loss(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    normalizer=None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    x = _upcast(inputs)
    index_targets = not targets.is_floating_point()
    if index_targets:
        classes = x.shape[-1]
        valid = targets != ignore_index
        t = _one_hot(targets, classes, x.dtype)
    else:
        t = targets.to(x.dtype)
    t_smooth = t * (1 - label_smoothing) + label_smoothing / 2 if label_smoothing > 0 else t
    p = torch.sigmoid(x)
    ce_loss = F.binary_cross_entropy_with_logits(x, t_smooth, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    if weight is not None:
        loss = loss * weight.to(x.dtype)
    denominator = None
    if index_targets:
        loss = torch.where(valid.unsqueeze(-1), loss, torch.zeros((), dtype=x.dtype, device=x.device))
        denominator = valid.sum() * loss.shape[-1]
    if normalizer is not None:
        out = loss / normalizer if reduction == "none" else loss.sum() / normalizer
    else:
        out = reduce(loss, reduction, denominator)
    return out.to(inputs.dtype)


def softmax_focal_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    alpha=None,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    x = _upcast(input)
    unbatched = x.dim() == 1
    if unbatched:
        x, target = x.unsqueeze(0), target.unsqueeze(0)
    log_p = torch.log_softmax(x, dim=1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    log_p_y = log_p.gather(1, safe.unsqueeze(1)).squeeze(1)
    coeff = torch.ones_like(log_p_y)
    if isinstance(alpha, torch.Tensor):
        coeff = coeff * alpha.to(x.dtype)[safe]
    elif alpha is not None and alpha >= 0:
        # kornia's and MONAI's convention: class 0 is the background, weighed 1 - alpha.
        coeff = torch.full_like(log_p_y, alpha).masked_fill(safe == 0, 1.0 - alpha)
    w_y = weight.to(x.dtype)[safe] if weight is not None else torch.ones_like(log_p_y)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    w_y = torch.where(valid, w_y, zero)
    loss = -coeff * w_y * (1 - log_p_y.exp()) ** gamma * log_p_y
    loss = torch.where(valid, loss, zero)
    if unbatched:
        loss = loss.squeeze(0)
    return reduce(loss, reduction, w_y.sum()).to(input.dtype)


def _mmdet_reduce(loss, weight, reduction, avg_factor):
    """mmdet's weight_reduce_loss."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce(loss, reduction)
    if reduction == "mean":
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    if reduction == "none":
        return loss
    raise ArgumentError('avg_factor can not be used with reduction="sum"')


def quality_focal_loss(pred, target, weight=None, beta=2.0, reduction="mean", avg_factor=None):
    label, score = target
    x = _upcast(pred)
    sigma = x.sigmoid()
    classes = x.shape[1]
    is_pos = (label.unsqueeze(1) == torch.arange(classes, device=x.device)) & (label >= 0).unsqueeze(1)
    q = score.to(x.dtype).unsqueeze(1)
    neg = F.binary_cross_entropy_with_logits(x, torch.zeros_like(x), reduction="none") * sigma.pow(beta)
    pos = F.binary_cross_entropy_with_logits(x, q.expand_as(x), reduction="none") * (q - sigma).abs().pow(
        beta
    )
    loss = torch.where(is_pos, pos, neg).sum(dim=1)
    return _mmdet_reduce(loss, weight, reduction, avg_factor).to(pred.dtype)


def varifocal_loss(
    pred, target, weight=None, alpha=0.75, gamma=2.0, iou_weighted=True, reduction="mean", avg_factor=None
):
    x = _upcast(pred)
    sigma = x.sigmoid()
    t = target.to(x.dtype)
    positive = (t > 0).to(x.dtype)
    negative = alpha * (sigma - t).abs().pow(gamma) * (t <= 0).to(x.dtype)
    focal_weight = (t * positive if iou_weighted else positive) + negative
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none") * focal_weight
    return _mmdet_reduce(loss, weight, reduction, avg_factor).to(pred.dtype)
