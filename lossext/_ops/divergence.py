"""Fake kernels and autograd for the KL / JS divergence ops.

The forward ops return one partial sum per chunk of CHUNK elements of the
flattened inputs; the backward ops scale each element's gradient by the
upstream gradient of its chunk. The gradient with respect to the target is
rare (distilling through a teacher) and is written with torch ops here.
"""

import torch

from lossext import reference
from lossext._ops._common import accumulate_dtype
from lossext._cpp import DIVERGENCE_CHUNK as CHUNK
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp


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
    from lossext import functional

    def step(x, t):
        return functional.kl_div(x, t.exp(), "batchmean") + functional.js_div(x, t, log_target=True)

    x, t = _log_probs(device, requires_grad=True)
    return step, (x, t)


SPECS = (
    OpSpec("kl_div_fwd", _kl_fwd_fake, _kl_fwd_samples, _kl_backward, _kl_setup, _public),
    OpSpec("js_div_fwd", _js_fwd_fake, _js_fwd_samples, _js_backward, _js_setup, _public),
    OpSpec("kl_div_bwd", _kl_bwd_fake, _kl_bwd_samples),
    OpSpec("js_div_bwd", _js_bwd_fake, _js_bwd_samples),
)
