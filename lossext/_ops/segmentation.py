"""Fake kernels and autograd of the segmentation statistics ops.

The forward op returns per-(sample, class) sums (N, 3, C) and per-sample
extras (N, 2); the loss is built from them with torch ops, so autograd hands
the backward op dL/dsums, from which it recomputes the probabilities and
writes the gradient of the logits in one pass. Nothing the size of the logits
is kept between forward and backward.
"""

import torch
import torch.nn.functional as F

from lossext.reference import segmentation as reference_segmentation
from lossext._cpp import SegActivation
from lossext._ops._common import accumulate_dtype
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp


def _per_sample_sum(v):
    return v.sum(tuple(range(1, v.dim()))) if v.dim() > 1 else v


def _stats_torch(input, target, activation, ignore_index, squared, with_ce, label_smoothing):
    """The op's outputs in torch ops, stats (N, 3, C) and extras (N, 2)
    flattened side by side into one (N, 3 C + 2) tensor (for torch_vjp).
    ignore_index: None or the target value to skip."""
    x = input.to(accumulate_dtype(input.dtype))
    multiclass = not target.is_floating_point()
    tp, sp, st = reference_segmentation.overlap_sums(
        x,
        target,
        "multiclass" if multiclass else "multilabel",
        activation != SegActivation.Identity,
        ignore_index,
        squared,
        True,
    )
    n = x.shape[0]
    extras = x.new_zeros((n, 2))
    if with_ce:
        if ignore_index is None:
            valid = torch.ones_like(target, dtype=torch.bool)
        else:
            valid = target != ignore_index
        safe = torch.where(valid, target, torch.zeros_like(target))
        ce = F.cross_entropy(x, safe, reduction="none", label_smoothing=label_smoothing)
        ce = torch.where(valid, ce, torch.zeros((), dtype=x.dtype, device=x.device))
        extras = torch.stack([_per_sample_sum(ce), _per_sample_sum(valid.to(x.dtype))], 1)
    return torch.cat([torch.stack([tp, sp, st], 1).flatten(1), extras], 1)


def _fwd_fake(input, target, activation, ignore_index, squared, with_ce, label_smoothing):
    acc = accumulate_dtype(input.dtype)
    stats = input.new_empty((input.shape[0], 3, input.shape[1]), dtype=acc)
    extras = input.new_empty((input.shape[0], 2), dtype=acc)
    return stats, extras


def _bwd_fake(
    grad_stats,
    grad_extras,
    input,
    target,
    activation,
    ignore_index,
    squared,
    with_ce,
    label_smoothing,
):
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
    if building_graph():
        (grad_input,) = torch_vjp(
            lambda x: _stats_torch(x, target, *ctx.options),
            (input,),
            ctx.needs_input_grad[:1],
            torch.cat([grad_stats.flatten(1), grad_extras], 1),
        )
        return grad_input, None, None, None, None, None, None
    grad_input = torch.ops.lossext.seg_stats_bwd(grad_stats, grad_extras, input, target, *ctx.options)
    return grad_input, None, None, None, None, None, None


def _options(device):
    """(target, activation, with_ce, squared, ignore_index) over index targets
    with an ignored pixel and a binary mask, each activation."""
    y = torch.randint(0, 4, (2, 5, 3), device=device)
    y[0, 0, 0] = 255
    mask = (torch.rand(2, 4, 5, 3, device=device) > 0.5).float()
    return [
        (y, SegActivation.Softmax, True, False, 255),
        (y, SegActivation.Softmax, False, True, 255),
        (y, SegActivation.Identity, False, False, 255),
        (mask, SegActivation.Sigmoid, False, True, 0),
        (mask, SegActivation.Identity, False, False, None),
    ]


def _fwd_samples(device):
    x = torch.randn(2, 4, 5, 3, device=device, requires_grad=True)
    return [
        (x, target, int(act), ignore, squared, ce, 0.1)
        for target, act, ce, squared, ignore in _options(device)
    ]


def _bwd_samples(device):
    x = torch.randn(2, 4, 5, 3, device=device)
    grads = (torch.rand(2, 3, 4, device=device), torch.rand(2, 2, device=device))
    return [
        (*grads, x, target, int(act), ignore, squared, ce, 0.1)
        for target, act, ce, squared, ignore in _options(device)
    ]


def _public(device):
    from lossext import functional

    def step(x, y, mask):
        return (
            functional.dice_loss(x, y, "multiclass", ignore_index=255, classes=[0, 2, 4])
            + functional.tversky_loss(x, mask, "multilabel", alpha=0.3, beta=0.7, gamma=2.0, per_image=True)
            + functional.dice_ce_loss(x, y, ignore_index=255, label_smoothing=0.1)
        )

    x = torch.randn(2, 5, 8, 8, device=device, requires_grad=True)
    y = torch.randint(0, 5, (2, 8, 8), device=device)
    y[0, 0, 0] = 255
    return step, (x, y, (torch.rand(2, 5, 8, 8, device=device) > 0.5).float())


SPECS = (
    OpSpec("seg_stats_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("seg_stats_bwd", _bwd_fake, _bwd_samples),
)
