"""Smooth L1 and Huber losses (box-delta regression) on a fused elementwise
kernel: forward reads input and target once and writes the loss, backward
reads them once more and writes the input's gradient (the target's is its
negative). Torch's semantics: values, gradients, dtypes, broadcasting."""

import torch
from torch import nn

from lossext import _ext, reference
from lossext._cpp import RegressionKind
from lossext._errors import ArgumentError
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext._validate import check_floating, check_number, check_reduction, check_same_device
from lossext.losses._dtype import result_dtype


# The ops: fake kernels, samples and autograd (registered by lossext._ops from SPECS).

_REFERENCES = {RegressionKind.SmoothL1: reference.smooth_l1_loss, RegressionKind.Huber: reference.huber_loss}


def _fwd_fake(input, target, kind, param):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _bwd_fake(grad_loss, input, target, kind, param):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _setup(ctx, inputs, output):
    input, target, kind, param = inputs
    ctx.save_for_backward(input, target)
    ctx.options = (kind, param)


def _backward(ctx, grad_loss):
    input, target = ctx.saved_tensors
    kind, param = ctx.options
    if building_graph():
        grad_input, grad_target = torch_vjp(
            lambda x, t: _REFERENCES[RegressionKind(kind)](x, t, "none", param),
            (input, target),
            ctx.needs_input_grad[:2],
            grad_loss,
        )
        return grad_input, grad_target, None, None
    grad_input = torch.ops.lossext.regression_bwd(grad_loss, input, target, *ctx.options)
    return (
        grad_input if ctx.needs_input_grad[0] else None,
        -grad_input if ctx.needs_input_grad[1] else None,
        None,
        None,
    )


def _fwd_samples(device):
    x = torch.randn(9, 3, device=device, requires_grad=True)
    t = torch.randn(9, 3, device=device)
    return [(x, t, int(RegressionKind.SmoothL1), 0.5), (x, t, int(RegressionKind.Huber), 1.5)]


def _bwd_samples(device):
    x, t = torch.randn(9, 3, device=device), torch.randn(9, 3, device=device)
    return [(torch.rand(9, 3, device=device), x, t, int(kind), 1.5) for kind in RegressionKind]


def _public(device):
    def step(x, t):
        return smooth_l1_loss(x, t, beta=0.2) + huber_loss(x, t, "sum", 0.5)

    return step, (torch.randn(30, 4, device=device, requires_grad=True), torch.randn(30, 4, device=device))


SPECS = (
    OpSpec("regression_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("regression_bwd", _bwd_fake, _bwd_samples),
)


# The public functions (exported by lossext.functional and lossext).


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


# The modules (exported by lossext.nn).


class SmoothL1Loss(nn.Module):
    """``torch.nn.SmoothL1Loss`` on the fused kernel; see :func:`lossext.smooth_l1_loss`."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.beta = beta

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(nn.Module):
    """``torch.nn.HuberLoss`` on the fused kernel; see :func:`lossext.huber_loss`."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.delta = delta

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return huber_loss(input, target, self.reduction, self.delta)
