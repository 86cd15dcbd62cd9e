"""Checks shared by the catalogue losses (the pure-PyTorch ones)."""

import torch

from lossext._validate import (
    check_floating,
    check_reduction,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_values,
)
from lossext._errors import ArgumentError


def check_pair(input, target, reduction, target_name="target", floating_target=True):
    """input and target: same shape and device; a floating input."""
    check_floating(input, "input")
    (check_floating if floating_target else check_tensor)(target, target_name)
    check_reduction(reduction)
    check_same_device(target, target_name, input, "input")
    check_same_shape(target, target_name, input, "input")


def check_broadcast(reduction, same_dim=False, **tensors):
    """Tensors on one device whose shapes broadcast, as torch's elementwise
    losses take them (floating, except a `target` of labels, which torch takes
    in any dtype); same_dim: and of one number of dimensions."""
    check_reduction(reduction)
    (first_name, first), *_ = tensors.items()
    for name, x in tensors.items():
        (check_tensor if name == "target" else check_floating)(x, name)
        check_same_device(x, name, first, first_name)
    shapes = ", ".join(f"{name} {tuple(x.shape)}" for name, x in tensors.items())
    if same_dim and len({x.dim() for x in tensors.values()}) > 1:
        raise ArgumentError(f"{shapes}: expected the same number of dimensions")
    try:
        return torch.broadcast_shapes(*(x.shape for x in tensors.values()))
    except RuntimeError:
        raise ArgumentError(f"{shapes}: shapes that do not broadcast") from None


def check_sign_labels(target, name="target"):
    """Labels must be -1 or +1 (checked on the values, without a host sync off the CPU)."""
    check_values((target == 1) | (target == -1), ArgumentError, f"{name} must hold labels in {{-1, +1}}")


def check_nonnegative(value, name):
    if not value >= 0:
        raise ArgumentError(f"{name} must be >= 0, got {value}")


__all__ = [
    "check_pair",
    "check_broadcast",
    "check_sign_labels",
    "check_nonnegative",
    "check_values",
    "check_floating",
    "check_reduction",
    "check_same_device",
    "check_same_shape",
    "check_tensor",
]
