"""Fake kernels and autograd of the focal-loss ops.

Backward recomputes from the logits instead of saving a gradient from the
forward (as apex does): the forward then writes only the loss (per row when
reduced), the backward reads logits and targets once and writes the gradient
once: 12 bytes per float32 element over both passes against apex's 16, and
no gradient-sized buffer held between forward and backward. Memory traffic is
what bounds these kernels on the GPU. On the CPU the arithmetic does (one exp,
one log1p and one division per element, vectorized), so recomputing costs a
second pass there; see docs/focal.md.
"""

import torch

from lossext._ops._common import accumulate_dtype, row_shape


@torch.library.register_fake("lossext::sigmoid_focal_fwd")
def _sigmoid_fwd_fake(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    shape = input.shape[:1] if reduce_rows else input.shape
    return input.new_empty(shape, dtype=accumulate_dtype(input.dtype))


@torch.library.register_fake("lossext::sigmoid_focal_bwd")
def _sigmoid_bwd_fake(grad_loss, input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


@torch.library.register_fake("lossext::softmax_focal_fwd")
def _softmax_fwd_fake(input, target, alpha, weight, gamma, ignore_index):
    out = input.new_empty(row_shape(input), dtype=accumulate_dtype(input.dtype))
    return out, torch.empty_like(out), torch.empty_like(out)


@torch.library.register_fake("lossext::softmax_focal_bwd")
def _softmax_bwd_fake(grad_loss, input, target, alpha, weight, lse, gamma, ignore_index):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _sigmoid_setup(ctx, inputs, output):
    input, target, weight, *options = inputs
    ctx.save_for_backward(input, target, weight)
    ctx.options = options


def _sigmoid_backward(ctx, grad_loss):
    input, target, weight = ctx.saved_tensors
    grad_input = torch.ops.lossext.sigmoid_focal_bwd(grad_loss, input, target, weight, *ctx.options)
    return grad_input, None, None, None, None, None, None, None


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
    grad_input = torch.ops.lossext.softmax_focal_bwd(grad_loss, input, target, alpha, weight, lse, *ctx.options)
    return grad_input, None, None, None, None, None


torch.library.register_autograd("lossext::sigmoid_focal_fwd", _sigmoid_backward, setup_context=_sigmoid_setup)
torch.library.register_autograd("lossext::softmax_focal_fwd", _softmax_backward, setup_context=_softmax_setup)
