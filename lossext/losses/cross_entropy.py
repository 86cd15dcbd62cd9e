"""Softmax cross-entropy on fused kernels (class-index or probability
targets, class weights, label smoothing, z-loss): the forward op returns the
per-row loss and the few per-row statistics the backward needs; the backward
op writes the gradient of the logits in one pass."""

import torch
from torch import nn

from lossext import _ext, reference
from lossext._errors import ArgumentError
from lossext._ops._common import accumulate_dtype, class_broadcast, row_shape
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext._validate import (
    check_class_weight,
    check_floating,
    check_int,
    check_number,
    check_range,
    check_reduction,
    check_same_device,
    check_tensor,
)
from lossext.losses._dtype import result_dtype
from lossext.losses._mean import class_weight_total


# The ops: fake kernels, samples and autograd (registered by lossext._ops from SPECS).


def _row_outputs(input):
    out = input.new_empty(row_shape(input), dtype=accumulate_dtype(input.dtype))
    return out, torch.empty_like(out), torch.empty_like(out)


def _index_fwd_fake(input, target, weight, ignore_index, label_smoothing, z_loss):
    return _row_outputs(input)


def _prob_fwd_fake(input, target, weight, label_smoothing, z_loss):
    return _row_outputs(input)


def _index_bwd_fake(grad_loss, input, target, weight, lse, ignore_index, label_smoothing, z_loss):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _prob_bwd_fake(grad_loss, input, target, weight, lse, target_mass, label_smoothing, z_loss):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _index_setup(ctx, inputs, output):
    input, target, weight, ignore_index, label_smoothing, z_loss = inputs
    _, lse, row_weight = output
    ctx.save_for_backward(input, target, weight, lse)
    ctx.options = (ignore_index, label_smoothing, z_loss)
    ctx.mark_non_differentiable(lse, row_weight)


def _index_loss(input, target, weight, ignore_index, label_smoothing, z_loss):
    """The op's per-row loss in torch ops (for torch_vjp)."""
    x = input.to(accumulate_dtype(input.dtype))
    return reference.cross_entropy(x, target, weight, ignore_index, "none", label_smoothing, z_loss)


def _prob_loss(input, target, weight, label_smoothing, z_loss):
    x = input.to(accumulate_dtype(input.dtype))
    return reference.cross_entropy(x, target, weight, -100, "none", label_smoothing, z_loss)


def _index_backward(ctx, grad_loss, _grad_lse, _grad_row_weight):
    input, target, weight, lse = ctx.saved_tensors
    if grad_loss is None:
        grad_loss = torch.zeros_like(lse)
    if building_graph() or ctx.needs_input_grad[2]:
        grad_input, grad_weight = torch_vjp(
            lambda x, w: _index_loss(x, target, w, *ctx.options),
            (input, weight),
            (ctx.needs_input_grad[0], ctx.needs_input_grad[2]),
            grad_loss,
        )
        return grad_input, None, grad_weight, None, None, None
    grad_input = torch.ops.lossext.cross_entropy_index_bwd(
        grad_loss, input, target, weight, lse, *ctx.options
    )
    return grad_input, None, None, None, None, None


def _prob_setup(ctx, inputs, output):
    input, target, weight, label_smoothing, z_loss = inputs
    _, lse, target_mass = output
    ctx.save_for_backward(input, target, weight, lse, target_mass)
    ctx.options = (label_smoothing, z_loss)
    ctx.mark_non_differentiable(lse, target_mass)


def _prob_backward(ctx, grad_loss, _grad_lse, _grad_mass):
    input, target, weight, lse, target_mass = ctx.saved_tensors
    label_smoothing, z_loss = ctx.options
    if grad_loss is None:
        grad_loss = torch.zeros_like(lse)
    if building_graph() or ctx.needs_input_grad[2]:
        grads = torch_vjp(
            lambda x, t, w: _prob_loss(x, t, w, label_smoothing, z_loss),
            (input, target, weight),
            ctx.needs_input_grad[:3],
            grad_loss,
        )
        return (*grads, None, None)
    grad_input = grad_target = None
    if ctx.needs_input_grad[0]:
        grad_input = torch.ops.lossext.cross_entropy_prob_bwd(
            grad_loss, input, target, weight, lse, target_mass, label_smoothing, z_loss
        )
    if ctx.needs_input_grad[1]:
        # d loss / d t_c = -(1-e) w_c log p_c: rare (distillation through the
        # teacher), so plain torch ops rather than a kernel.
        log_p = input.to(lse.dtype) - lse.unsqueeze(1)
        g = -(1 - label_smoothing) * grad_loss.to(lse.dtype).unsqueeze(1) * log_p
        if weight is not None:
            g = g * class_broadcast(weight.to(lse.dtype), input)
        grad_target = g.to(target.dtype)
    return grad_input, grad_target, None, None, None


def _inputs(device):
    """Logits (6, 5, 2), index targets with one ignored, probability targets, class weights."""
    x = torch.randn(6, 5, 2, device=device)
    y = torch.randint(0, 5, (6, 2), device=device)
    y[0, 0] = -100
    t = torch.softmax(torch.randn(6, 5, 2, device=device), 1)
    return x, y, t, torch.rand(5, device=device)


def _index_fwd_samples(device):
    x, y, _, w = _inputs(device)
    x.requires_grad_()
    return [(x, y, weight, -100, 0.1, 1e-3) for weight in (None, w)]


def _prob_fwd_samples(device):
    x, _, t, w = _inputs(device)
    return [(x.requires_grad_(), t, None, 0.1, 1e-3), (x, t.requires_grad_(), w, 0.0, 0.0)]


def _index_bwd_samples(device):
    x, y, _, w = _inputs(device)
    samples = []
    for weight in (None, w):
        loss, lse, _ = torch.ops.lossext.cross_entropy_index_fwd(x, y, weight, -100, 0.1, 1e-3)
        samples.append((torch.rand_like(loss), x, y, weight, lse, -100, 0.1, 1e-3))
    return samples


def _prob_bwd_samples(device):
    x, _, t, w = _inputs(device)
    samples = []
    for weight in (None, w):
        loss, lse, mass = torch.ops.lossext.cross_entropy_prob_fwd(x, t, weight, 0.1, 1e-3)
        samples.append((torch.rand_like(loss), x, t, weight, lse, mass, 0.1, 1e-3))
    return samples


def _public(device):
    def step(x, y, t, w):
        return cross_entropy(x, y, w, label_smoothing=0.1, z_loss=1e-4) + cross_entropy(x, t, reduction="sum")

    x, y, t, w = _inputs(device)
    return step, (x.requires_grad_(), y, t, w)


SPECS = (
    OpSpec(
        "cross_entropy_index_fwd", _index_fwd_fake, _index_fwd_samples, _index_backward, _index_setup, _public
    ),
    OpSpec("cross_entropy_prob_fwd", _prob_fwd_fake, _prob_fwd_samples, _prob_backward, _prob_setup, _public),
    OpSpec("cross_entropy_index_bwd", _index_bwd_fake, _index_bwd_samples),
    OpSpec("cross_entropy_prob_bwd", _prob_bwd_fake, _prob_bwd_samples),
)


# The public functions (exported by lossext.functional and lossext).


def _check_args(input, target, weight, reduction, label_smoothing, z_loss, ignore_index):
    check_floating(input, "input")
    check_tensor(target, "target")
    check_reduction(reduction)
    check_int(ignore_index, "ignore_index")
    if input.dim() == 0:
        raise ArgumentError("input must have shape (C,), (N, C) or (N, C, d1, ..., dk), got a 0-d tensor")
    check_range(label_smoothing, "label_smoothing", 0.0, 1.0)
    check_number(z_loss, "z_loss", 0)
    check_same_device(target, "target", input, "input")
    classes = input.shape[0 if input.dim() == 1 else 1]
    check_class_weight(weight, "weight", classes, input)
    if target.is_floating_point():
        if target.shape != input.shape:
            raise ArgumentError(
                f"probability target must have the shape of input {tuple(input.shape)}, got {tuple(target.shape)}"
            )
        return
    if target.dtype == torch.bool:
        raise TypeError("target must hold integer class indices or floating probabilities, got torch.bool")
    expected = tuple(input.shape[:1]) + tuple(input.shape[2:]) if input.dim() > 1 else ()
    if tuple(target.shape) != expected:
        raise ArgumentError(
            f"class-index target must have shape {expected} for input of shape {tuple(input.shape)}, "
            f"got {tuple(target.shape)}"
        )


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
) -> torch.Tensor:
    """Softmax cross-entropy, a drop-in for ``torch.nn.functional.cross_entropy``.

    Args:
        input: logits of shape (C,), (N, C) or (N, C, d1, ..., dk); float16,
            bfloat16, float32 or float64 (half types accumulate in float32).
        target: class indices of shape (), (N,) or (N, d1, ..., dk), of any
            integer dtype (uint8 masks, int32 and int64 labels), or class
            probabilities of input's shape.
        weight: optional per-class weights of shape (C,).
        ignore_index: index target value that contributes neither loss nor
            gradient (index targets only, as in torch).
        reduction: 'none' | 'mean' | 'sum'. 'mean' divides by the summed weight
            of non-ignored targets (index) or by the number of rows (probability).
        label_smoothing: in [0, 1], mixes the target with the uniform distribution.
        z_loss: adds ``z_loss * logsumexp(input)**2`` per (non-ignored) row, the
            auxiliary loss of PaLM; 'mean' divides it by the same denominator.

    Returns the loss in input's dtype. The fused kernel reads the logits once
    in forward and once in backward, keeping only per-row statistics between.
    On CUDA a class index outside [0, C) that is not ``ignore_index`` makes its
    row nan (checking it would need a device sync); on CPU it raises IndexError.
    """
    _check_args(input, target, weight, reduction, label_smoothing, z_loss, ignore_index)
    if not target.is_floating_point() and target.dtype != torch.int64:
        target = target.long()  # uint8 masks, int32 labels: the kernels read int64
    if not _ext.has_kernels(input.device):
        _ext.warn_fallback("cross_entropy", input.device)
        return reference.cross_entropy(
            input, target, weight, ignore_index, reduction, label_smoothing, z_loss
        )

    unbatched = input.dim() == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    label_smoothing, z_loss = float(label_smoothing), float(z_loss)
    if target.is_floating_point():
        loss, _, _ = torch.ops.lossext.cross_entropy_prob_fwd(input, target, weight, label_smoothing, z_loss)
        denominator = loss.numel()
    else:
        loss, _, row_weight = torch.ops.lossext.cross_entropy_index_fwd(
            input, target, weight, int(ignore_index), label_smoothing, z_loss
        )
        denominator = (
            class_weight_total(row_weight, weight, target, ignore_index) if reduction == "mean" else None
        )

    if reduction == "none":
        out = loss.squeeze(0) if unbatched else loss
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = loss.sum() / denominator
    return out.to(result_dtype(input))


# The modules (exported by lossext.nn).


class CrossEntropyLoss(nn.Module):
    """``torch.nn.CrossEntropyLoss`` on the fused kernel, plus ``z_loss``.
    See :func:`lossext.cross_entropy`."""

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing
        self.z_loss = z_loss

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(
            input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing, self.z_loss
        )
