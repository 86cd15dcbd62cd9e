"""Objective helpers: structural risk, and mIoU / Dice as metrics over a
confusion matrix (no gradient). Pure PyTorch."""

import torch

from lossext import reference
from lossext.functional._catalog_common import check_same_device, check_tensor, check_values
from lossext._errors import ArgumentError


def structural_risk(loss, parameters, lam=1e-4, penalty="l2"):
    """Structural risk: the empirical ``loss`` plus lam·R(θ) over ``parameters``
    (an nn.Module or an iterable of tensors), R = Σ|θ| for 'l1' or Σθ² for 'l2'
    (the weight-decay form, without a ½). lam >= 0. Reference (pure PyTorch)."""
    check_tensor(loss, "loss")
    if loss.dim() != 0:
        raise ArgumentError(f"loss must be a scalar (0-d) tensor, got shape {tuple(loss.shape)}")
    if penalty not in ("l1", "l2"):
        raise ArgumentError(f"Invalid penalty {penalty!r}: expected 'l1' or 'l2'")
    if not lam >= 0:
        raise ArgumentError(f"lam must be >= 0, got {lam}")
    if not isinstance(parameters, torch.nn.Module):
        parameters = list(parameters)
        for p in parameters:
            check_tensor(p, "parameters")
    return reference.structural_risk(loss, parameters, lam, penalty)


def confusion_matrix(input, target, num_classes, ignore_index=None):
    """Confusion matrix M (num_classes, num_classes), int64: M[i, j] counts
    elements of true class i predicted as j (rows: target, as scikit-learn).
    input: predicted class indices of target's shape, or scores (N, C, ...)
    whose argmax over dim 1 is the prediction. Elements whose target equals
    ``ignore_index`` are skipped; other indices must lie in [0, num_classes)."""
    check_tensor(input, "input")
    check_tensor(target, "target")
    check_same_device(target, "target", input, "input")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ArgumentError(f"num_classes must be a positive int, got {num_classes!r}")
    if target.is_floating_point():
        raise TypeError(f"target must hold integer class indices, got {target.dtype}")
    scores = input.dim() == target.dim() + 1
    if scores:
        if input.shape[1] != num_classes or input.shape[:1] + input.shape[2:] != target.shape:
            raise ArgumentError(
                f"scores of shape {tuple(input.shape)} do not match target {tuple(target.shape)} "
                f"and num_classes {num_classes}"
            )
    elif input.shape != target.shape or input.is_floating_point():
        raise ArgumentError(
            f"input must be integer predictions of target's shape {tuple(target.shape)} or scores "
            f"(N, C, ...), got {input.dtype} {tuple(input.shape)}"
        )
    valid = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        valid = valid | (target == ignore_index)
    check_values(valid, IndexError, f"target holds a class index outside [0, {num_classes})")
    if not scores:
        check_values(
            (input >= 0) & (input < num_classes),
            IndexError,
            f"input holds a class index outside [0, {num_classes})",
        )
    with torch.no_grad():
        return reference.confusion_matrix(
            input.long() if not scores else input, target.long(), num_classes, ignore_index
        )


def _check_confusion(confusion):
    check_tensor(confusion, "confusion")
    if confusion.dim() != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ArgumentError(f"confusion must be a square (C, C) matrix, got shape {tuple(confusion.shape)}")


def mean_iou(confusion, per_class=False):
    """Intersection over union TP / (TP + FP + FN) per class from a confusion
    matrix, averaged over the classes present in target or prediction (an
    absent class is nan and skipped); ``per_class=True`` returns the vector.
    A metric: float64, no gradient."""
    _check_confusion(confusion)
    with torch.no_grad():
        return reference.mean_iou(confusion, per_class)


def dice_score(confusion, per_class=False):
    """Dice (F1) 2 TP / (2 TP + FP + FN) per class from a confusion matrix,
    averaged like :func:`mean_iou`. A metric: float64, no gradient."""
    _check_confusion(confusion)
    with torch.no_grad():
        return reference.dice_score(confusion, per_class)
