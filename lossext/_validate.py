"""Argument checks shared by the public functions.

They look only at shapes, dtypes, devices and Python values, never at tensor
contents, so they cost no device sync and trace cleanly under torch.compile.
Messages name the offending argument.
"""

from __future__ import annotations

import torch

from lossext._errors import ArgumentError

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str, extra: tuple[str, ...] = ()) -> None:
    allowed = REDUCTIONS + extra
    if reduction not in allowed:
        raise ArgumentError(f"Invalid reduction {reduction!r}: expected one of {', '.join(map(repr, allowed))}")


def check_tensor(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")


def check_floating(x: torch.Tensor, name: str) -> None:
    check_tensor(x, name)
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")


def check_same_device(x: torch.Tensor, name: str, ref: torch.Tensor, ref_name: str) -> None:
    if x.device != ref.device:
        raise ArgumentError(f"{name} is on {x.device} but {ref_name} is on {ref.device}; they must be on the same device")


def check_range(value: float, name: str, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise ArgumentError(f"{name} must be in [{low}, {high}], got {value}")


def check_class_weight(weight, name: str, classes: int, ref: torch.Tensor) -> None:
    if weight is None:
        return
    check_floating(weight, name)
    if weight.dim() != 1 or weight.shape[0] != classes:
        raise ArgumentError(f"{name} must be a 1-D tensor of length C = {classes}, got shape {tuple(weight.shape)}")
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
