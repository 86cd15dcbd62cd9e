"""Argument checks shared by the public functions.

They look only at shapes, dtypes, devices and Python values, never at tensor
contents, so they cost no device sync and trace cleanly under torch.compile.
Messages name the offending argument.
"""

from __future__ import annotations

import math
import numbers

import torch

from lossext._errors import ArgumentError

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str, extra: tuple[str, ...] = ()) -> None:
    allowed = REDUCTIONS + extra
    if reduction not in allowed:
        raise ArgumentError(
            f"Invalid reduction {reduction!r}: expected one of {', '.join(map(repr, allowed))}"
        )


def check_tensor(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")


def check_floating(x: torch.Tensor, name: str) -> None:
    check_tensor(x, name)
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")


def check_same_device(x: torch.Tensor, name: str, ref: torch.Tensor, ref_name: str) -> None:
    if x.device != ref.device:
        raise ArgumentError(
            f"{name} is on {x.device} but {ref_name} is on {ref.device}; they must be on the same device"
        )


def check_range(value: float, name: str, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise ArgumentError(f"{name} must be in [{low}, {high}], got {value}")


def check_class_weight(weight, name: str, classes: int, ref: torch.Tensor) -> None:
    if weight is None:
        return
    check_floating(weight, name)
    if weight.dim() != 1 or weight.shape[0] != classes:
        raise ArgumentError(
            f"{name} must be a 1-D tensor of length C = {classes}, got shape {tuple(weight.shape)}"
        )
    check_same_device(weight, name, ref, "input")


def check_values(ok: torch.Tensor, exc: type, message: str) -> None:
    """Checks a condition on tensor contents (`ok`: a bool tensor, all True
    when the values are valid). On the CPU the check is immediate and raises
    `exc`; elsewhere and under torch.compile it is an asynchronous device
    assertion (no host sync), which fails the next synchronizing call."""
    if ok.device.type == "cpu" and not torch.compiler.is_compiling():
        if not bool(ok.all()):
            raise exc(message)
    else:
        torch._assert_async(ok.all(), message)


def check_same_shape(x: torch.Tensor, name: str, ref: torch.Tensor, ref_name: str) -> None:
    if x.shape != ref.shape:
        raise ArgumentError(
            f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {tuple(x.shape)}"
        )


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def check_int(value, name: str) -> int:
    """An integer option (ignore_index, ...): an int (not a bool, not a float,
    which the kernels would truncate) that fits the kernels' int64."""
    if (
        isinstance(value, torch.Tensor)
        and value.dim() == 0
        and not value.is_floating_point()
        and value.dtype != torch.bool
    ):
        value = int(value)
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ArgumentError(f"{name} must fit in a 64-bit integer, got {value}")
    return int(value)


def check_number(
    value, name: str, low: float | None = None, strict: bool = False, finite: bool = True
) -> float:
    """A real scalar option: a Python number (not a bool, not a string), not
    nan, finite unless `finite` is False, and >= low (> low when strict)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ArgumentError(f"{name} must be a finite number, got {value}")
    if low is not None and not (value > low if strict else value >= low):
        raise ArgumentError(f"{name} must be {'>' if strict else '>='} {low}, got {value}")
    return value
