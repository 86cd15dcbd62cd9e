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
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp


def _sigmoid_fwd_fake(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    shape = input.shape[:1] if reduce_rows else input.shape
    return input.new_empty(shape, dtype=accumulate_dtype(input.dtype))


def _sigmoid_bwd_fake(
    grad_loss, input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows
):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _sigmoid_fwd_with_grad_fake(
    input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows
):
    loss = _sigmoid_fwd_fake(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows)
    return loss, torch.empty_like(input, memory_format=torch.contiguous_format)


def _sigmoid_bwd_saved_fake(grad_loss, dloss_dinput, reduce_rows):
    return torch.empty_like(dloss_dinput, memory_format=torch.contiguous_format)


def _softmax_fwd_fake(input, target, alpha, weight, gamma, ignore_index):
    out = input.new_empty(row_shape(input), dtype=accumulate_dtype(input.dtype))
    return out, torch.empty_like(out), torch.empty_like(out)


def _softmax_bwd_fake(grad_loss, input, target, alpha, weight, lse, gamma, ignore_index):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _sigmoid_loss(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    """The op's loss (per element, or per row when reduce_rows) in torch ops."""
    x = input.to(accumulate_dtype(input.dtype))
    loss = reference.sigmoid_focal_loss(
        x,
        target,
        alpha,
        gamma,
        "none",
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
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
    grad_input = torch.ops.lossext.softmax_focal_bwd(
        grad_loss, input, target, alpha, weight, lse, *ctx.options
    )
    return grad_input, None, None, None, None, None


def _sigmoid_inputs(device, requires_grad):
    """Logits (6, 5), index targets (positive, background -1, ignored -100),
    dense targets, class weights; each target with and without row reduction."""
    x = torch.randn(6, 5, device=device, requires_grad=requires_grad)
    y = torch.tensor([0, -1, 4, -100, 2, 1], device=device)
    t = torch.rand(6, 5, device=device)
    return x, [(y, True), (y, False), (t, False), (t, True)], torch.rand(5, device=device)


def _sigmoid_fwd_samples(device):
    x, targets, w = _sigmoid_inputs(device, requires_grad=True)
    return [(x, target, w, 0.25, 2.0, -100, 0.1, reduce_rows) for target, reduce_rows in targets]


def _sigmoid_bwd_samples(device):
    x, targets, w = _sigmoid_inputs(device, requires_grad=False)
    samples = []
    for target, reduce_rows in targets:
        grad_loss = torch.rand(6 if reduce_rows else (6, 5), device=device)
        samples.append((grad_loss, x, target, w, 0.25, 0.5, -100, 0.0, reduce_rows))
    return samples


def _sigmoid_bwd_saved_samples(device):
    x, targets, w = _sigmoid_inputs(device, requires_grad=False)
    samples = []
    for target, reduce_rows in targets:
        _, d = torch.ops.lossext.sigmoid_focal_fwd_with_grad(x, target, w, 0.25, 1.5, -100, 0.1, reduce_rows)
        g = torch.rand(6 if reduce_rows else (6, 5), device=device)
        samples += [(g, d, reduce_rows), (torch.tensor(0.5, device=device).expand(g.shape), d, reduce_rows)]
    return samples


def _softmax_inputs(device):
    x = torch.randn(4, 5, 3, device=device)
    y = torch.randint(0, 5, (4, 3), device=device)
    y[0, 0] = -100
    return x, y, torch.rand(5, device=device)


def _softmax_fwd_samples(device):
    x, y, a = _softmax_inputs(device)
    x.requires_grad_()
    return [(x, y, a, None, 2.0, -100), (x, y, None, a, 1.5, -100)]


def _softmax_bwd_samples(device):
    x, y, a = _softmax_inputs(device)
    _, lse, _ = torch.ops.lossext.softmax_focal_fwd(x, y, a, None, 2.0, -100)
    return [(torch.rand(4, 3, device=device), x, y, a, None, lse, 0.5, -100)]


def _public_sigmoid(device, requires_grad):
    from lossext import functional

    if requires_grad is None:  # the recomputing design: CPU inference, CUDA always
        requires_grad = device.type != "cpu"

    def step(x, y, n):
        return functional.sigmoid_focal_loss(x, y, reduction="sum", normalizer=n)

    x = torch.randn(64, 10, device=device, requires_grad=requires_grad)
    y = torch.randint(-1, 10, (64,), device=device)
    return step, (x, y, (y >= 0).sum().clamp(min=1))


def _public_sigmoid_with_grad(device):
    """The saved-derivative design: CPU only, when a gradient will be needed."""
    return _public_sigmoid(device, True) if device.type == "cpu" else None


def _public_softmax(device):
    from lossext import functional

    def step(x, y):
        return functional.softmax_focal_loss(x, y, 0.25, 1.5)

    x = torch.randn(64, 10, device=device, requires_grad=True)
    return step, (x, torch.randint(0, 10, (64,), device=device))


SPECS = (
    OpSpec(
        "sigmoid_focal_fwd",
        _sigmoid_fwd_fake,
        _sigmoid_fwd_samples,
        _sigmoid_backward,
        _sigmoid_setup,
        lambda device: _public_sigmoid(device, None),
    ),
    OpSpec("sigmoid_focal_bwd", _sigmoid_bwd_fake, _sigmoid_bwd_samples),
    OpSpec(
        "sigmoid_focal_fwd_with_grad",
        _sigmoid_fwd_with_grad_fake,
        _sigmoid_fwd_samples,
        _sigmoid_with_grad_backward,
        _sigmoid_with_grad_setup,
        _public_sigmoid_with_grad,
        devices=("cpu",),
    ),
    OpSpec("sigmoid_focal_bwd_saved", _sigmoid_bwd_saved_fake, _sigmoid_bwd_saved_samples, devices=("cpu",)),
    OpSpec(
        "softmax_focal_fwd",
        _softmax_fwd_fake,
        _softmax_fwd_samples,
        _softmax_backward,
        _softmax_setup,
        _public_softmax,
    ),
    OpSpec("softmax_focal_bwd", _softmax_bwd_fake, _softmax_bwd_samples),
)
