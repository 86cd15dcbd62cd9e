"""Classic classification and margin losses. Pure PyTorch (the reference)
behind the public API. Checks on label and probability values run without a
host sync off the CPU (an asynchronous device assertion)."""

import torch

from lossext import reference
from lossext._validate import check_class_weight, check_int
from lossext.functional._catalog_common import (
    check_broadcast,
    check_floating,
    check_nonnegative,
    check_pair,
    check_reduction,
    check_same_device,
    check_sign_labels,
    check_tensor,
    check_values,
)
from lossext._errors import ArgumentError


class _NoGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, loss, _input):
        return loss

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(
            "zero_one_loss has no gradient (it is piecewise constant); use a surrogate such as "
            "hinge_loss or binary_cross_entropy to train"
        )


def zero_one_loss(input, target, tolerance=None, reduction="mean"):
    """0-1 loss: 1 where the prediction is wrong, else 0.

    Without ``tolerance``: [input != target] (class labels or any values).
    With tolerance T: [|input - target| >= T] (regression read as right/wrong).
    The result is in the default float dtype. The loss is piecewise constant
    and has no gradient: when input requires grad the result does too, and
    calling backward through it raises a RuntimeError that says so.
    Reference implementation (pure PyTorch)."""
    check_tensor(input, "input")
    check_tensor(target, "target")
    check_reduction(reduction)
    check_same_device(target, "target", input, "input")
    if target.shape != input.shape:
        raise ArgumentError(
            f"target must have the shape of input {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    if tolerance is not None:
        check_floating(input, "input")
        if not tolerance > 0:
            raise ArgumentError(f"tolerance must be > 0, got {tolerance}")
    with torch.no_grad():
        loss = reference.zero_one_loss(input, target, tolerance, reduction)
    if input.requires_grad:
        loss = _NoGradient.apply(loss, input)
    return loss


def _margin_args(input, target, margin, reduction):
    check_pair(input, target, reduction)
    check_nonnegative(margin, "margin")
    check_sign_labels(target)


def hinge_loss(input, target, margin=1.0, reduction="mean"):
    """Hinge loss max(0, margin - y f) for scores f and labels y in {-1, +1}
    (validated; any other label raises ValueError). Reference (pure PyTorch)."""
    _margin_args(input, target, margin, reduction)
    return reference.hinge_loss(input, target, margin, reduction)


def squared_hinge_loss(input, target, margin=1.0, reduction="mean"):
    """Squared hinge max(0, margin - y f)², labels y in {-1, +1} (validated).
    Reference implementation (pure PyTorch)."""
    _margin_args(input, target, margin, reduction)
    return reference.squared_hinge_loss(input, target, margin, reduction)


def multiclass_hinge_loss(input, target, margin=1.0, reduction="mean"):
    """Crammer-Singer multi-class hinge max(0, margin + max_{c != y} f_c - f_y)
    over the last dim of input (..., C), int64 targets of shape input.shape[:-1].
    (``multi_margin_loss`` is the Weston-Watkins sum over classes, as torch.)
    Reference implementation (pure PyTorch)."""
    check_floating(input, "input")
    check_tensor(target, "target")
    check_reduction(reduction)
    check_nonnegative(margin, "margin")
    check_same_device(target, "target", input, "input")
    if input.dim() == 0 or input.shape[-1] < 2:
        raise ArgumentError(f"input must have shape (..., C) with C >= 2, got {tuple(input.shape)}")
    if target.dtype != torch.int64 or target.shape != input.shape[:-1]:
        raise ArgumentError(
            f"target must be int64 of shape {tuple(input.shape[:-1])}, got {target.dtype} "
            f"{tuple(target.shape)}"
        )
    check_values(
        (target >= 0) & (target < input.shape[-1]), IndexError, "target holds a class index outside [0, C)"
    )
    return reference.multiclass_hinge_loss(input, target, margin, reduction)


def exponential_loss(input, target, reduction="mean"):
    """Exponential loss exp(-y f) of AdaBoost, labels y in {-1, +1} (validated).
    Reference implementation (pure PyTorch)."""
    check_pair(input, target, reduction)
    check_sign_labels(target)
    return reference.exponential_loss(input, target, reduction)


def _check_probabilities(x, name):
    check_values((x >= 0) & (x <= 1), ArgumentError, f"{name} must hold probabilities in [0, 1]")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy on probabilities, as
    ``torch.nn.functional.binary_cross_entropy`` (logs clamped at -100).
    input and target must lie in [0, 1] (ValueError on the CPU; an asynchronous
    device assertion elsewhere). Reference implementation (pure PyTorch)."""
    check_pair(input, target, reduction)
    if weight is not None:
        check_floating(weight, "weight")
        check_same_device(weight, "weight", input, "input")
        try:
            torch.broadcast_shapes(weight.shape, input.shape)
        except RuntimeError:
            raise ArgumentError(
                f"weight of shape {tuple(weight.shape)} does not broadcast to input {tuple(input.shape)}"
            ) from None
    _check_probabilities(input, "input")
    _check_probabilities(target, "target")
    return reference.binary_cross_entropy(input, target, weight, reduction)


def log_loss(input, target, reduction="mean"):
    """Log loss -(y log p + (1 - y) log(1 - p)) of probabilities p against labels
    y in [0, 1]: binary_cross_entropy without weights. Values outside [0, 1]
    raise (see binary_cross_entropy). Reference implementation (pure PyTorch)."""
    return binary_cross_entropy(input, target, None, reduction)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood -w_y x_y of log-probabilities, as
    ``torch.nn.functional.nll_loss`` ((C,), (N, C) or (N, C, d1, ...) input;
    'mean' divides by the summed weight of non-ignored targets).
    Reference implementation (pure PyTorch)."""
    check_floating(input, "input")
    check_tensor(target, "target")
    check_reduction(reduction)
    check_int(ignore_index, "ignore_index")
    check_same_device(target, "target", input, "input")
    if input.dim() == 0:
        raise ArgumentError("input must have shape (C,), (N, C) or (N, C, d1, ..., dk), got a 0-d tensor")
    classes = input.shape[0 if input.dim() == 1 else 1]
    check_class_weight(weight, "weight", classes, input)
    expected = tuple(input.shape[:1]) + tuple(input.shape[2:]) if input.dim() > 1 else ()
    if target.is_floating_point() or target.dtype == torch.bool or tuple(target.shape) != expected:
        raise ArgumentError(
            f"target must be integer (int64, int32, uint8, ...) class indices of shape {expected}, "
            f"got {target.dtype} {tuple(target.shape)}"
        )
    target = target.long()  # uint8 masks as torch takes them, int32 labels
    check_values(
        ((target >= 0) & (target < classes)) | (target == ignore_index),
        IndexError,
        f"target holds a class index outside [0, {classes}) that is not ignore_index",
    )
    return reference.nll_loss(input, target, weight, ignore_index, reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """x where y = 1, max(0, margin - x) where y = -1, as
    ``torch.nn.functional.hinge_embedding_loss``, shapes broadcast as torch's;
    labels are meant to be -1 or +1 and, as in torch, not checked (any other
    value takes both terms). Reference implementation (pure PyTorch)."""
    check_broadcast(reduction, input=input, target=target)
    return reference.hinge_embedding_loss(input, target, margin, reduction)


def soft_margin_loss(input, target, reduction="mean"):
    """log(1 + exp(-y x)), as ``torch.nn.functional.soft_margin_loss``; labels in
    {-1, +1}, not checked (as torch); target broadcasts to input's shape.
    Reference implementation (pure PyTorch)."""
    if check_broadcast(reduction, input=input, target=target) != input.shape:
        raise ArgumentError(
            f"target {tuple(target.shape)} must broadcast to input's shape {tuple(input.shape)}"
        )
    return reference.soft_margin_loss(input, target, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """Weston-Watkins multi-class margin loss Σ_{c != y} w_y max(0, margin - x_y + x_c)^p / C,
    as ``torch.nn.functional.multi_margin_loss`` ((C,) or (N, C) input, p in {1, 2}).
    Reference implementation (pure PyTorch)."""
    check_floating(input, "input")
    check_tensor(target, "target")
    check_reduction(reduction)
    check_same_device(target, "target", input, "input")
    if p not in (1, 2):
        raise ArgumentError(f"p must be 1 or 2, got {p}")
    if input.dim() > 2:
        raise ArgumentError(f"input must have shape (), (C,) or (N, C), got {tuple(input.shape)}")
    classes = input.shape[-1] if input.dim() > 0 else 1
    check_class_weight(weight, "weight", classes, input)
    # torch takes any target of N elements (N = 1 for an unbatched input), at most 1-D.
    rows = input.shape[0] if input.dim() == 2 else 1
    if target.dtype != torch.int64 or target.dim() > 1 or target.numel() != rows:
        raise ArgumentError(
            f"target must be int64 holding {rows} class index(es), of shape () or ({rows},), got "
            f"{target.dtype} {tuple(target.shape)}"
        )
    check_values((target >= 0) & (target < classes), IndexError, "target holds a class index outside [0, C)")
    return reference.multi_margin_loss(input, target, p, margin, weight, reduction)
