"""KL and generalized Jensen-Shannon divergence on fused kernels."""

import torch
from torch import nn

from lossext import _ext, reference
from lossext._cpp import DIVERGENCE_CHUNK as CHUNK
from lossext._errors import ArgumentError
from lossext._ops._common import accumulate_dtype
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext._validate import check_floating, check_reduction, check_same_device
from lossext.losses._dtype import result_dtype


# The ops: fake kernels, samples and autograd (registered by lossext._ops from SPECS).
#
# The forward ops return one partial sum per chunk of CHUNK elements of the
# flattened inputs; the backward ops scale each element's gradient by the
# upstream gradient of its chunk. The gradient with respect to the target is
# rare (distilling through a teacher) and is written with torch ops here.


def _partials(input):
    return input.new_empty(((input.numel() + CHUNK - 1) // CHUNK,), dtype=accumulate_dtype(input.dtype))


def _kl_fwd_fake(input, target, log_target):
    return _partials(input)


def _js_fwd_fake(input, target, beta, log_target):
    return _partials(input)


def _kl_bwd_fake(grad_partials, input, target, log_target):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _js_bwd_fake(grad_partials, input, target, beta, log_target):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _per_element(grad_partials, like):
    """The upstream gradient of each element's chunk, shaped like `like`."""
    g = grad_partials.repeat_interleave(CHUNK)[: like.numel()]
    return g.view(like.shape)


def _kl_setup(ctx, inputs, output):
    input, target, log_target = inputs
    ctx.save_for_backward(input, target)
    ctx.log_target = log_target


def _elementwise_vjp(ctx, loss_fn, grad_partials, input, target):
    """Gradients through the elementwise loss (reference formulas), each
    element weighted by the upstream gradient of its chunk."""
    acc = accumulate_dtype(input.dtype)
    per_element = _per_element(grad_partials.to(acc), input)
    return torch_vjp(
        lambda x, t: loss_fn(x.to(acc), t.to(acc)), (input, target), ctx.needs_input_grad[:2], per_element
    )


def _kl_backward(ctx, grad_partials):
    input, target = ctx.saved_tensors
    if building_graph():
        grads = _elementwise_vjp(
            ctx, lambda x, t: reference.kl_div(x, t, "none", ctx.log_target), grad_partials, input, target
        )
        return (*grads, None)
    grad_input = grad_target = None
    if ctx.needs_input_grad[0]:
        grad_input = torch.ops.lossext.kl_div_bwd(grad_partials, input, target, ctx.log_target)
    if ctx.needs_input_grad[1]:
        acc = accumulate_dtype(input.dtype)
        x, t = input.to(acc), target.to(acc)
        g = _per_element(grad_partials.to(acc), input)
        if ctx.log_target:
            d = t.exp() * (t - x + 1)
        else:
            # 0 where the target is 0, where d/dt of t log t is -inf (torch: nan).
            d = torch.where(t == 0, torch.zeros_like(t), t.log() + 1 - x)
        grad_target = (g * d).to(target.dtype)
    return grad_input, grad_target, None


def _js_setup(ctx, inputs, output):
    input, target, beta, log_target = inputs
    ctx.save_for_backward(input, target)
    ctx.options = (beta, log_target)


def _js_backward(ctx, grad_partials):
    input, target = ctx.saved_tensors
    beta, log_target = ctx.options
    if building_graph():
        grads = _elementwise_vjp(
            ctx, lambda x, t: reference.js_div(x, t, beta, "none", log_target), grad_partials, input, target
        )
        return (*grads, None, None)
    grad_input = grad_target = None
    if ctx.needs_input_grad[0]:
        grad_input = torch.ops.lossext.js_div_bwd(grad_partials, input, target, beta, log_target)
    if ctx.needs_input_grad[1]:
        acc = accumulate_dtype(input.dtype)
        x, t = input.to(acc), target.to(acc)
        g = _per_element(grad_partials.to(acc), input)
        p = t.exp() if log_target else t
        log_m = torch.log(beta * p + (1 - beta) * x.exp())
        log_p = t if log_target else t.log()
        ratio = torch.where(p == 0, torch.zeros_like(p), log_p - log_m)
        d = beta * (p * ratio if log_target else ratio)
        grad_target = (g * d).to(target.dtype)
    return grad_input, grad_target, None, None


def _log_probs(device, requires_grad=False):
    """Log-probabilities (3, 20000): more than one chunk, the last one ragged."""
    x = torch.randn(3, 20000, dtype=torch.float64, device=device).log_softmax(-1).float()
    t = torch.randn(3, 20000, dtype=torch.float64, device=device).log_softmax(-1).float()
    return x.requires_grad_(requires_grad), t


def _kl_fwd_samples(device):
    x, t = _log_probs(device, requires_grad=True)
    return [(x, t, True), (x, t.exp(), False)]


def _js_fwd_samples(device):
    x, t = _log_probs(device, requires_grad=True)
    return [(x, t, 0.4, True), (x, t.exp(), 0.5, False)]


def _grad_partials(x):
    return torch.randn((x.numel() + CHUNK - 1) // CHUNK, device=x.device)


def _kl_bwd_samples(device):
    x, t = _log_probs(device)
    return [(_grad_partials(x), x, t, True), (_grad_partials(x), x, t.exp(), False)]


def _js_bwd_samples(device):
    x, t = _log_probs(device)
    return [(_grad_partials(x), x, t, 0.4, True), (_grad_partials(x), x, t.exp(), 0.5, False)]


def _public(device):
    def step(x, t):
        return kl_div(x, t.exp(), "batchmean") + js_div(x, t, log_target=True)

    x, t = _log_probs(device, requires_grad=True)
    return step, (x, t)


SPECS = (
    OpSpec("kl_div_fwd", _kl_fwd_fake, _kl_fwd_samples, _kl_backward, _kl_setup, _public),
    OpSpec("js_div_fwd", _js_fwd_fake, _js_fwd_samples, _js_backward, _js_setup, _public),
    OpSpec("kl_div_bwd", _kl_bwd_fake, _kl_bwd_samples),
    OpSpec("js_div_bwd", _js_bwd_fake, _js_bwd_samples),
)


# The public functions (exported by lossext.functional and lossext).


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


# The modules (exported by lossext.nn).


class KLDivLoss(nn.Module):
    """``torch.nn.KLDivLoss`` on the fused kernel. See :func:`lossext.kl_div`."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input, target):
        return kl_div(input, target, self.reduction, self.log_target)


class JSDivLoss(nn.Module):
    """Generalized Jensen-Shannon divergence (LigerJSD's convention) on the
    fused kernel. See :func:`lossext.js_div`."""

    def __init__(self, beta: float = 0.5, reduction: str = "batchmean", log_target: bool = True) -> None:
        super().__init__()
        self.beta = beta
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input, target):
        return js_div(input, target, self.beta, self.reduction, self.log_target)
