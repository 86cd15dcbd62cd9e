"""Fake kernels and autograd of the focal-loss ops.

Sigmoid focal has two designs, picked per device by lossext.functional.focal:

- CUDA (and CPU inference): ``sigmoid_focal_fwd`` writes only the loss (per
  row when reduced) and ``sigmoid_focal_bwd`` recomputes each element from the
  logits and targets: 12 bytes per float32 element over both passes against
  16 for saving a gradient (apex's design), and no gradient-sized buffer held
  between forward and backward. Memory traffic bounds these kernels on the GPU.
- CPU when a gradient will be needed: ``sigmoid_focal_fwd_with_grad`` returns
  the loss and dL/dx of every element from one evaluation of the element math
  (one exp, one log1p, one division), and the backward
  ``sigmoid_focal_bwd_saved`` only scales that saved derivative by the upstream
  gradient. The CPU is bound by the arithmetic, so this halves the
  transcendental work of forward + backward, at the cost of a logits-sized
  buffer (input dtype) alive from forward to backward. See docs/focal.md.
  Only float32 and float64 logits take it: a float16/bfloat16 derivative
  would be rounded (and underflow) before the upstream gradient (a loss
  scale) multiplies it, so half types recompute, rounding the product once.

Second derivatives (create_graph=True) and gradients of a ``weight`` or
``alpha`` tensor go through the reference formulas (see _torch_vjp.py), so
both designs keep the inputs, targets and weights of the call.
"""

import torch

from lossext import reference
from lossext._ops._common import accumulate_dtype, row_shape
from lossext._ops._torch_vjp import building_graph, torch_vjp


@torch.library.register_fake("lossext::sigmoid_focal_fwd")
def _sigmoid_fwd_fake(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    shape = input.shape[:1] if reduce_rows else input.shape
    return input.new_empty(shape, dtype=accumulate_dtype(input.dtype))


@torch.library.register_fake("lossext::sigmoid_focal_bwd")
def _sigmoid_bwd_fake(grad_loss, input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


@torch.library.register_fake("lossext::sigmoid_focal_fwd_with_grad")
def _sigmoid_fwd_with_grad_fake(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    loss = _sigmoid_fwd_fake(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows)
    return loss, torch.empty_like(input, memory_format=torch.contiguous_format)


@torch.library.register_fake("lossext::sigmoid_focal_bwd_saved")
def _sigmoid_bwd_saved_fake(grad_loss, dloss_dinput, reduce_rows):
    return torch.empty_like(dloss_dinput, memory_format=torch.contiguous_format)


@torch.library.register_fake("lossext::softmax_focal_fwd")
def _softmax_fwd_fake(input, target, alpha, weight, gamma, ignore_index):
    out = input.new_empty(row_shape(input), dtype=accumulate_dtype(input.dtype))
    return out, torch.empty_like(out), torch.empty_like(out)


@torch.library.register_fake("lossext::softmax_focal_bwd")
def _softmax_bwd_fake(grad_loss, input, target, alpha, weight, lse, gamma, ignore_index):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _sigmoid_loss(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    """The op's loss (per element, or per row when reduce_rows) in torch ops."""
    x = input.to(accumulate_dtype(input.dtype))
    loss = reference.sigmoid_focal_loss(
        x, target, alpha, gamma, "none", weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing
    )
    return loss.sum(-1) if reduce_rows else loss


def _sigmoid_vjp(ctx, grad_loss, input, target, weight, options):
    grad_input, grad_weight = torch_vjp(
        lambda x, w: _sigmoid_loss(x, target, w, *options),
        (input, weight),
        (ctx.needs_input_grad[0], ctx.needs_input_grad[2]),
        grad_loss,
    )
    return grad_input, None, grad_weight, None, None, None, None, None


def _sigmoid_setup(ctx, inputs, output):
    input, target, weight, *options = inputs
    ctx.save_for_backward(input, target, weight)
    ctx.options = options


def _sigmoid_backward(ctx, grad_loss):
    input, target, weight = ctx.saved_tensors
    if building_graph() or ctx.needs_input_grad[2]:
        return _sigmoid_vjp(ctx, grad_loss, input, target, weight, ctx.options)
    grad_input = torch.ops.lossext.sigmoid_focal_bwd(grad_loss, input, target, weight, *ctx.options)
    return grad_input, None, None, None, None, None, None, None


def _sigmoid_with_grad_setup(ctx, inputs, output):
    input, target, weight, *options = inputs
    _, dloss_dinput = output
    # The derivative is saved, never written to: the backward reads it into a
    # new tensor, so retain_graph and repeated backward calls see it intact.
    # The inputs are kept for a second derivative or a weight gradient.
    ctx.save_for_backward(dloss_dinput, input, target, weight)
    ctx.options = options
    ctx.mark_non_differentiable(dloss_dinput)


def _sigmoid_with_grad_backward(ctx, grad_loss, _grad_dloss_dinput):
    dloss_dinput, input, target, weight = ctx.saved_tensors
    if grad_loss is None:
        return (None,) * 8
    if building_graph() or ctx.needs_input_grad[2]:
        return _sigmoid_vjp(ctx, grad_loss, input, target, weight, ctx.options)
    grad_input = torch.ops.lossext.sigmoid_focal_bwd_saved(grad_loss, dloss_dinput, ctx.options[-1])
    return grad_input, None, None, None, None, None, None, None


def _softmax_loss(input, target, alpha, weight, gamma, ignore_index):
    x = input.to(accumulate_dtype(input.dtype))
    return reference.softmax_focal_loss(x, target, alpha, gamma, weight, ignore_index, "none")


def _softmax_setup(ctx, inputs, output):
    input, target, alpha, weight, gamma, ignore_index = inputs
    _, lse, row_weight = output
    ctx.save_for_backward(input, target, alpha, weight, lse)
    ctx.options = (gamma, ignore_index)
    ctx.mark_non_differentiable(lse, row_weight)


def _softmax_backward(ctx, grad_loss, _grad_lse, _grad_row_weight):
    input, target, alpha, weight, lse = ctx.saved_tensors
    if grad_loss is None:
        grad_loss = torch.zeros_like(lse)
    if building_graph() or ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:
        grad_input, grad_alpha, grad_weight = torch_vjp(
            lambda x, a, w: _softmax_loss(x, target, a, w, *ctx.options),
            (input, alpha, weight),
            (ctx.needs_input_grad[0], ctx.needs_input_grad[2], ctx.needs_input_grad[3]),
            grad_loss,
        )
        return grad_input, None, grad_alpha, grad_weight, None, None
    grad_input = torch.ops.lossext.softmax_focal_bwd(grad_loss, input, target, alpha, weight, lse, *ctx.options)
    return grad_input, None, None, None, None, None


torch.library.register_autograd("lossext::sigmoid_focal_fwd", _sigmoid_backward, setup_context=_sigmoid_setup)
torch.library.register_autograd("lossext::softmax_focal_fwd", _softmax_backward, setup_context=_softmax_setup)
torch.library.register_autograd(
    "lossext::sigmoid_focal_fwd_with_grad", _sigmoid_with_grad_backward, setup_context=_sigmoid_with_grad_setup
)
