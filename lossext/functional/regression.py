"""Smooth L1 and Huber losses (box-delta regression) on a fused elementwise
kernel: forward reads input and target once and writes the loss, backward
reads them once more and writes the input's gradient (the target's is its
negative). Torch's semantics: values, gradients, dtypes, broadcasting."""

import torch

from lossext import _ext, reference
from lossext._cpp import RegressionKind
from lossext._errors import ArgumentError
from lossext.functional._dtype import result_dtype
from lossext._validate import check_floating, check_number, check_reduction, check_same_device


def _elementwise(name, input, target, reduction, kind, param, ref_fn):
    check_floating(input, "input")
    check_floating(target, "target")
    check_same_device(target, "target", input, "input")
    check_reduction(reduction)
    if not _ext.has_kernels(input.device):
        _ext.warn_fallback(name, input.device)
        return ref_fn(input, target, reduction, param)
    dtype = torch.promote_types(input.dtype, target.dtype)
    if input.shape != target.shape:
        try:
            input, target = torch.broadcast_tensors(input, target)
        except RuntimeError:
            raise ArgumentError(
                f"target of shape {tuple(target.shape)} does not broadcast with input of shape {tuple(input.shape)}"
            ) from None
    loss = torch.ops.lossext.regression_fwd(input.to(dtype), target.to(dtype), int(kind), float(param))
    loss = loss.to(result_dtype(input))
    if reduction == "none":
        return loss
    # 'mean' of nothing is nan, as in torch.
    return loss.sum() if reduction == "sum" else loss.mean()


def smooth_l1_loss(
    input: torch.Tensor, target: torch.Tensor, reduction: str = "mean", beta: float = 1.0
) -> torch.Tensor:
    """``torch.nn.functional.smooth_l1_loss``: 0.5 d^2/beta for |d| < beta,
    |d| - 0.5 beta beyond; beta = 0 is the L1 loss (gradient sign(d), 0 at
    d = 0). beta < 0 raises ArgumentError."""
    check_number(beta, "beta", 0, finite=False)
    return _elementwise(
        "smooth_l1_loss", input, target, reduction, RegressionKind.SmoothL1, beta, reference.smooth_l1_loss
    )


def huber_loss(
    input: torch.Tensor, target: torch.Tensor, reduction: str = "mean", delta: float = 1.0
) -> torch.Tensor:
    """``torch.nn.functional.huber_loss``: 0.5 d^2 for |d| <= delta,
    delta (|d| - 0.5 delta) beyond. delta <= 0 raises ArgumentError."""
    check_number(delta, "delta", 0, strict=True, finite=False)
    return _elementwise(
        "huber_loss", input, target, reduction, RegressionKind.Huber, delta, reference.huber_loss
    )
