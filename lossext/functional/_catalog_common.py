"""Checks shared by the catalogue losses (the pure-PyTorch ones)."""

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


def check_sign_labels(target, name="target"):
    """Labels must be -1 or +1 (checked on the values, without a host sync off the CPU)."""
    check_values((target == 1) | (target == -1), ArgumentError, f"{name} must hold labels in {{-1, +1}}")


def check_nonnegative(value, name):
    if not value >= 0:
        raise ArgumentError(f"{name} must be >= 0, got {value}")


__all__ = ["check_pair", "check_sign_labels", "check_nonnegative", "check_values", "check_floating",
           "check_reduction", "check_same_device", "check_same_shape", "check_tensor"]
