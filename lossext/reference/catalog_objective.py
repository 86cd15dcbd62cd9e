"""Objective helpers from their formulas.
structural risk:  loss + λ R(θ), R = Σ|θ| (l1) or Σθ² (l2, the weight-decay form, no ½)
confusion matrix: M[i, j] = #(target = i, prediction = j)
IoU_c = M_cc / (Σ_j M_cj + Σ_i M_ic - M_cc);  Dice_c = 2 M_cc / (Σ_j M_cj + Σ_i M_ic)
mean over classes whose denominator is non-zero (absent classes are nan, skipped).
"""

import torch


def structural_risk(loss, parameters, lam=1e-4, penalty="l2"):
    params = list(parameters.parameters()) if isinstance(parameters, torch.nn.Module) else list(parameters)
    if penalty == "l1":
        reg = sum(p.abs().sum() for p in params)
    else:
        reg = sum((p * p).sum() for p in params)
    return loss + lam * reg


def confusion_matrix(input, target, num_classes, ignore_index=None):
    pred = input.argmax(1) if input.dim() == target.dim() + 1 else input
    pred, target = pred.reshape(-1), target.reshape(-1)
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _per_class(confusion, dice):
    m = confusion.double()
    tp = m.diagonal()
    both = m.sum(0) + m.sum(1)
    return 2 * tp / both if dice else tp / (both - tp)


def mean_iou(confusion, per_class=False):
    iou = _per_class(confusion, dice=False)
    return iou if per_class else iou.nanmean()


def dice_score(confusion, per_class=False):
    dice = _per_class(confusion, dice=True)
    return dice if per_class else dice.nanmean()
