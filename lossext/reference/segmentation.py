"""Dice, Jaccard (IoU), Tversky and Dice + cross-entropy, written the way
segmentation_models_pytorch writes them: probabilities and one-hot targets as
full (N, C, pixels) tensors, then sums. Readable above all; the fused kernels
are checked against it and it runs where no kernel is compiled in.

Per (sample or batch, class), over the pixels that are not ignored:
    TP = sum p t,  P = sum p (sum p^2 with squared_pred),  T = sum t (sum t^2)
    dice     = (2 TP + smooth) / max(P + T + smooth, eps)
    jaccard  = (TP + smooth) / max(P + T - TP + smooth, eps)
    tversky  = (TP + smooth) / max(TP + alpha FP + beta FN + smooth, eps),
               FP = P - TP = sum p (1 - t),  FN = T - TP = sum (1 - p) t
    loss     = 1 - score, or -log(max(score, eps)) with log_loss
Empty classes (T = 0): 'mask' multiplies their loss by 0 and keeps them in the
mean (smp); 'count' leaves the formula's value (MONAI). Then the per-class
weight, the `classes` subset, the reduction, and for Tversky the power gamma
of the reduced value (smp: ``loss.mean() ** gamma``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lossext._validate import check_values
from lossext.reference.cross_entropy import cross_entropy


def _upcast(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _probabilities(input, mode, from_logits):
    x = _upcast(input)
    if not from_logits:
        return x
    if mode == "multiclass":
        return x.log_softmax(dim=1).exp()
    return F.logsigmoid(x).exp()


def _targets(target, mode, classes, pixels, ignore_index, dtype):
    """(N, C, pixels) float targets and the (N, 1 or C, pixels) validity mask."""
    n = target.shape[0]
    if mode == "multiclass":
        y = target.reshape(n, pixels)
        valid = y != ignore_index if ignore_index is not None else torch.ones_like(y, dtype=torch.bool)
        check_values(
            ~valid | ((y >= 0) & (y < classes)),
            IndexError,
            f"target contains a class index outside [0, {classes}) that is not ignore_index",
        )
        one_hot = F.one_hot(torch.where(valid, y, 0), classes).permute(0, 2, 1)
        return one_hot.to(dtype) * valid.unsqueeze(1), valid.unsqueeze(1)
    t = target.reshape(n, classes, pixels).to(dtype)
    valid = t != ignore_index if ignore_index is not None else torch.ones_like(t, dtype=torch.bool)
    return t * valid, valid


def overlap_sums(
    input, target, mode, from_logits=True, ignore_index=None, squared_pred=False, per_image=False
):
    """TP, P, T as (N, C) when per_image, else (C,)."""
    p = _probabilities(input, mode, from_logits)
    n, c = p.shape[:2]
    pixels = math.prod(p.shape[2:])  # explicit: reshape(n, c, -1) is ambiguous when n == 0
    p = p.reshape(n, c, pixels)
    t, valid = _targets(target, mode, c, pixels, ignore_index, p.dtype)
    p = p * valid
    dims = (2,) if per_image else (0, 2)
    tp = (p * t).sum(dims)
    sp = (p * p if squared_pred else p).sum(dims)
    st = (t * t if squared_pred else t).sum(dims)
    return tp, sp, st


def _loss(
    kind,
    input,
    target,
    mode,
    classes,
    log_loss,
    from_logits,
    smooth,
    ignore_index,
    eps,
    weight,
    per_image,
    squared_pred,
    empty_classes,
    reduction,
    alpha=0.5,
    beta=0.5,
    gamma=1.0,
    class_weights=None,
):
    tp, sp, st = overlap_sums(input, target, mode, from_logits, ignore_index, squared_pred, per_image)
    if kind == "dice":
        # Tversky with alpha = beta = 1/2, smoothing included (the catalogue; smp 0.6):
        # (2 TP + 2 s) / (P + T + 2 s), not the older (2 TP + s) / (P + T + s).
        score = (tp + smooth) / ((sp + st) / 2 + smooth).clamp_min(eps)
    elif kind == "jaccard":
        score = (tp + smooth) / (sp + st - tp + smooth).clamp_min(eps)
    else:
        fp, fn = sp - tp, st - tp
        score = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth).clamp_min(eps)
    loss = -torch.log(score.clamp_min(eps)) if log_loss else 1.0 - score
    if empty_classes == "mask":
        loss = loss * (st > 0).to(loss.dtype)
    if weight is not None:
        loss = loss * weight.to(loss.dtype)
    if classes is not None:
        loss = loss[..., torch.as_tensor(classes, dtype=torch.long, device=loss.device)]
    if class_weights is not None:
        # smp's class_weights: a weighted mean over the (selected) classes.
        w = torch.as_tensor(class_weights, dtype=loss.dtype, device=loss.device)
        if classes is not None:
            w = w[torch.as_tensor(classes, dtype=torch.long, device=loss.device)]
        loss = loss * w
        if reduction == "mean":
            rows = loss.numel() // max(w.numel(), 1)
            loss = loss.sum() / (w.sum() * rows)
        elif reduction == "sum":
            loss = loss.sum()
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    if gamma != 1.0:
        loss = loss**gamma
    return loss


def dice_loss(
    input,
    target,
    mode,
    classes=None,
    log_loss=False,
    from_logits=True,
    smooth=0.0,
    ignore_index=None,
    eps=1e-7,
    class_weights=None,
    *,
    weight=None,
    per_image=False,
    squared_pred=False,
    empty_classes="mask",
    reduction="mean",
):
    return _loss(
        "dice",
        input,
        target,
        mode,
        classes,
        log_loss,
        from_logits,
        smooth,
        ignore_index,
        eps,
        weight,
        per_image,
        squared_pred,
        empty_classes,
        reduction,
        class_weights=class_weights,
    ).to(input.dtype)


def jaccard_loss(
    input,
    target,
    mode,
    classes=None,
    log_loss=False,
    from_logits=True,
    smooth=0.0,
    ignore_index=None,
    eps=1e-7,
    class_weights=None,
    *,
    weight=None,
    per_image=False,
    squared_pred=False,
    empty_classes="mask",
    reduction="mean",
):
    return _loss(
        "jaccard",
        input,
        target,
        mode,
        classes,
        log_loss,
        from_logits,
        smooth,
        ignore_index,
        eps,
        weight,
        per_image,
        squared_pred,
        empty_classes,
        reduction,
        class_weights=class_weights,
    ).to(input.dtype)


def tversky_loss(
    input,
    target,
    mode,
    classes=None,
    log_loss=False,
    from_logits=True,
    smooth=0.0,
    ignore_index=None,
    eps=1e-7,
    alpha=0.5,
    beta=0.5,
    gamma=1.0,
    class_weights=None,
    *,
    weight=None,
    per_image=False,
    empty_classes="mask",
    reduction="mean",
):
    return _loss(
        "tversky",
        input,
        target,
        mode,
        classes,
        log_loss,
        from_logits,
        smooth,
        ignore_index,
        eps,
        weight,
        per_image,
        False,
        empty_classes,
        reduction,
        alpha,
        beta,
        gamma,
        class_weights,
    ).to(input.dtype)


def dice_ce_loss(
    input,
    target,
    classes=None,
    log_loss=False,
    smooth=0.0,
    ignore_index=None,
    eps=1e-7,
    *,
    lambda_dice=1.0,
    lambda_ce=1.0,
    label_smoothing=0.0,
    weight=None,
    per_image=False,
    squared_pred=False,
    empty_classes="mask",
):
    """lambda_dice * multiclass Dice (softmax) + lambda_ce * mean cross-entropy
    over non-ignored pixels (torch's F.cross_entropy with label_smoothing);
    weight weighs both terms (MONAI)."""
    dice = _loss(
        "dice",
        input,
        target,
        "multiclass",
        classes,
        log_loss,
        True,
        smooth,
        ignore_index,
        eps,
        weight,
        per_image,
        squared_pred,
        empty_classes,
        "mean",
    )
    logits = _upcast(input)
    ce_weight = None if weight is None else weight.to(logits.dtype)
    # The written-out cross-entropy (F.cross_entropy's formula), which also
    # differentiates a weight that requires grad.
    ce = cross_entropy(
        logits,
        target,
        ce_weight,
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=label_smoothing,
    )
    return (lambda_dice * dice + lambda_ce * ce).to(input.dtype)
