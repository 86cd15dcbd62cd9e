"""KL and generalized Jensen-Shannon divergence on fused kernels."""

import torch

from lossext import _ext, reference
from lossext.functional._dtype import result_dtype
from lossext._validate import check_floating, check_reduction, check_same_device
from lossext._errors import ArgumentError


def _prepare(input, target, reduction):
    check_floating(input, "input")
    check_floating(target, "target")
    check_reduction(reduction, extra=("batchmean",))
    check_same_device(target, "target", input, "input")
    try:
        shape = torch.broadcast_shapes(input.shape, target.shape)
    except RuntimeError:
        raise ArgumentError(
            f"target of shape {tuple(target.shape)} does not broadcast with input of shape {tuple(input.shape)}"
        ) from None
    dtype = torch.promote_types(input.dtype, target.dtype)
    input, target = input.to(dtype), target.to(dtype)
    if input.shape != shape or target.shape != shape:
        input, target = torch.broadcast_tensors(input, target)
    return input, target


def _denominator(input, reduction):
    if reduction == "mean":
        return input.numel()
    if reduction == "batchmean":
        return input.shape[0] if input.dim() > 0 else 1
    return 1


def kl_div(
    input: torch.Tensor, target: torch.Tensor, reduction: str = "mean", log_target: bool = False
) -> torch.Tensor:
    """Kullback-Leibler divergence KL(target || exp(input)), a drop-in for
    ``torch.nn.functional.kl_div``.

    Args:
        input: log-probabilities log q, any shape; float16, bfloat16, float32 or
            float64 (half types accumulate in float32).
        target: probabilities p (or log p with ``log_target=True``), broadcastable
            to input.
        reduction: 'none' | 'mean' (over every element, torch's default) |
            'batchmean' (sum / input.size(0): the true KL for (N, V) rows) | 'sum'.
        log_target: whether target holds log-probabilities.

    Per element: ``p log p - p log q`` with 0 where p == 0 (torch's xlogy), or
    ``exp(t) (t - input)`` for log targets. The reduced forms run the fused
    kernel: forward reads input and target once; backward reads the target once
    and writes the gradient once. 'none' is a pure elementwise map and runs
    torch ops (the reference), which already make one pass. The target's
    gradient, when it requires one, is computed with torch ops; where the
    target is exactly 0 it is 0 (torch 2.13 returns nan there).
    """
    input, target = _prepare(input, target, reduction)
    if reduction == "none" or not _ext.has_kernels(input.device):
        if reduction != "none":
            _ext.warn_fallback("kl_div", input.device)
        return reference.kl_div(input, target, reduction, log_target)
    partials = torch.ops.lossext.kl_div_fwd(input, target, bool(log_target))
    return (partials.sum() / _denominator(input, reduction)).to(result_dtype(input))


def js_div(
    input: torch.Tensor,
    target: torch.Tensor,
    beta: float = 0.5,
    reduction: str = "batchmean",
    log_target: bool = True,
) -> torch.Tensor:
    """Generalized Jensen-Shannon divergence between the target distribution P
    and the input distribution Q, both usually given as log-probabilities:

        JS_beta = beta KL(P || M) + (1 - beta) KL(Q || M),   M = beta P + (1 - beta) Q

    summed over elements. This is the convention of Liger-Kernel's ``LigerJSD``
    (``forward(log_q, log_p)``: the input is the student's log q, the target
    the teacher's log p, beta weighs the target). beta = 0.5 is the symmetric
    JSD, bounded by log 2 per row.

    Args:
        input: log q, any shape; float16, bfloat16, float32 or float64.
        target: log p (``log_target=True``, the default) or p, broadcastable to input.
        beta: in the open interval (0, 1); at 0 or 1 M equals one of the two
            distributions and the divergence vanishes identically (LigerJSD
            instead switches to a plain KL there; use :func:`kl_div` for that).
        reduction: 'batchmean' (sum / input.size(0), default) | 'sum' | 'mean'
            (over every element) | 'none' (per element, torch ops).

    A zero probability contributes 0 to its KL term. The reduced forms run the
    fused kernel (forward reads both inputs once, backward reads both once and
    writes the gradient once); the target's gradient uses torch ops.
    """
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not 0.0 < beta < 1.0:
        raise ArgumentError(f"beta must be a float in (0, 1), got {beta!r}")
    input, target = _prepare(input, target, reduction)
    if reduction == "none" or not _ext.has_kernels(input.device):
        if reduction != "none":
            _ext.warn_fallback("js_div", input.device)
        return reference.js_div(input, target, beta, reduction, log_target)
    partials = torch.ops.lossext.js_div_fwd(input, target, float(beta), bool(log_target))
    return (partials.sum() / _denominator(input, reduction)).to(result_dtype(input))
