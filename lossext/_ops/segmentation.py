"""Fake kernels and autograd of the segmentation statistics ops.

The forward op returns per-(sample, class) sums (N, 3, C) and per-sample
extras (N, 2); the loss is built from them with torch ops, so autograd hands
the backward op dL/dsums, from which it recomputes the probabilities and
writes the gradient of the logits in one pass. Nothing the size of the logits
is kept between forward and backward.
"""

import torch

from lossext._ops._common import accumulate_dtype


@torch.library.register_fake("lossext::seg_stats_fwd")
def _fwd_fake(input, target, activation, ignore_index, has_ignore, squared, with_ce, label_smoothing):
    acc = accumulate_dtype(input.dtype)
    stats = input.new_empty((input.shape[0], 3, input.shape[1]), dtype=acc)
    extras = input.new_empty((input.shape[0], 2), dtype=acc)
    return stats, extras


@torch.library.register_fake("lossext::seg_stats_bwd")
def _bwd_fake(grad_stats, grad_extras, input, target, activation, ignore_index, has_ignore, squared, with_ce,
              label_smoothing):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _setup(ctx, inputs, output):
    input, target, *options = inputs
    ctx.save_for_backward(input, target)
    ctx.options = options


def _backward(ctx, grad_stats, grad_extras):
    input, target = ctx.saved_tensors
    acc = accumulate_dtype(input.dtype)
    n, c = input.shape[0], input.shape[1]
    if grad_stats is None:
        grad_stats = input.new_zeros((n, 3, c), dtype=acc)
    if grad_extras is None:
        grad_extras = input.new_zeros((n, 2), dtype=acc)
    grad_input = torch.ops.lossext.seg_stats_bwd(grad_stats, grad_extras, input, target, *ctx.options)
    return grad_input, None, None, None, None, None, None, None


torch.library.register_autograd("lossext::seg_stats_fwd", _backward, setup_context=_setup)
