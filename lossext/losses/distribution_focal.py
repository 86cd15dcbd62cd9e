"""Distribution focal loss (GFL's DFL, the box-regression loss of GFL, YOLOv8
and later) on a fused kernel: one pass over each row of bin logits computes
the log-sum-exp and the two cross-entropies; the backward recomputes softmax
from the saved log-sum-exp and writes each gradient element once."""

import numbers

import torch
from torch import nn

from lossext import _ext, reference
from lossext._errors import ArgumentError
from lossext._ops._common import accumulate_dtype
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext._validate import check_floating, check_same_device
from lossext.losses._dtype import result_dtype
from lossext.losses.focal import _check_mmdet_reduce
from lossext.reference.distribution_focal import _dfl_rows as _reference_rows
from lossext.reference.focal import _mmdet_reduce


# The ops: fake kernels, samples and autograd (registered by lossext._ops from SPECS).


def _fwd_fake(pred, label):
    out = pred.new_empty(pred.shape[:1], dtype=accumulate_dtype(pred.dtype))
    return out, torch.empty_like(out)


def _bwd_fake(grad_loss, pred, label, lse):
    return torch.empty_like(pred, memory_format=torch.contiguous_format)


def _setup(ctx, inputs, output):
    pred, label = inputs
    _, lse = output
    ctx.save_for_backward(pred, label, lse)
    ctx.mark_non_differentiable(lse)


def _backward(ctx, grad_loss, _grad_lse):
    pred, label, lse = ctx.saved_tensors
    if grad_loss is None:
        grad_loss = torch.zeros_like(lse)
    if building_graph():
        (grad_pred,) = torch_vjp(
            lambda x: reference.distribution_focal_loss(
                x.to(accumulate_dtype(x.dtype)), label, reduction="none"
            ),
            (pred,),
            ctx.needs_input_grad[:1],
            grad_loss,
        )
        return grad_pred, None
    return torch.ops.lossext.distribution_focal_bwd(grad_loss, pred, label, lse), None


def _inputs(device, rows=6, bins=17):
    pred = torch.randn(rows, bins, device=device)
    label = torch.rand(rows, device=device) * (bins - 1)
    label[0] = bins - 1  # the last bin exactly
    return pred, label


def _fwd_samples(device):
    pred, label = _inputs(device)
    long_pred, long_label = _inputs(device, 3, 40)
    return [(pred.requires_grad_(), label), (long_pred.requires_grad_(), long_label)]


def _bwd_samples(device):
    pred, label = _inputs(device)
    _, lse = torch.ops.lossext.distribution_focal_fwd(pred, label)
    return [(torch.randn(6, device=device), pred, label, lse)]


def _public(device):
    def step(pred, label):
        return distribution_focal_loss(pred, label, avg_factor=4.0)

    pred, label = _inputs(device)
    return step, (pred.requires_grad_(), label)


SPECS = (
    OpSpec("distribution_focal_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("distribution_focal_bwd", _bwd_fake, _bwd_samples),
)


# The public functions (exported by lossext.functional and lossext).


def _dfl_rows(pred, label, name):
    """The per-row loss (N,) in the accumulate type, on the kernel where there is one."""
    if not _ext.has_kernels(pred.device):
        _ext.warn_fallback(name, pred.device)
        return _reference_rows(pred, label)
    loss, _ = torch.ops.lossext.distribution_focal_fwd(pred, label)
    return loss


def distribution_focal_loss(pred, label, weight=None, reduction: str = "mean", avg_factor=None):
    """Distribution focal loss, mmdet's ``distribution_focal_loss`` (with its
    ``weight`` / ``reduction`` / ``avg_factor`` handling, ``weight_reduce_loss``).

    ``pred`` (N, n + 1) logits over the integer positions 0 .. n and ``label``
    (N,) real distances in [0, n]: with l = floor(label), r = l + 1,
    ``CE(pred, l) * (r - label) + CE(pred, r) * (label - l)`` per row. mmdet's
    ``reg_max`` is n, the number of intervals (``reg_max=16`` gives 17 bins);
    here it is read from the shape. A label equal to n takes the last interval
    (l = n - 1, weight 0 on it): the limit of the formula, where mmdet's own
    code would index bin n + 1.

    A label outside [0, n] (or nan) raises a ValueError on the CPU. On CUDA it
    cannot be reported without a device sync: the kernel never indexes with it
    and makes that row's loss and gradient nan, so the reduced loss is nan.

    Args:
        pred: (N, bins) floating logits, bins >= 2.
        label: (N,) floating; it gets no gradient.
        weight: optional (N,) per-row weight.
        reduction: 'none' | 'mean' | 'sum'.
        avg_factor: with 'mean', the sum is divided by ``avg_factor + eps``
            (float32 eps) as in mmdet; not allowed with 'sum'.

    Returns the (N,) losses ('none') or a scalar, in pred's dtype (computed in
    float32 for float16/bfloat16, float64 for float64).
    """
    check_floating(pred, "pred")
    check_floating(label, "label")
    if pred.dim() != 2 or pred.shape[1] < 2:
        raise ArgumentError(f"pred must have shape (N, bins) with bins >= 2, got {tuple(pred.shape)}")
    if label.shape != pred.shape[:1]:
        raise ArgumentError(f"label must have shape ({pred.shape[0]},), got {tuple(label.shape)}")
    check_same_device(label, "label", pred, "pred")
    _check_mmdet_reduce(reduction, avg_factor, weight, pred)
    if weight is not None and weight.shape != pred.shape[:1]:
        raise ArgumentError(f"weight must have shape ({pred.shape[0]},), got {tuple(weight.shape)}")
    loss = _dfl_rows(pred, label, "distribution_focal_loss")
    return _mmdet_reduce(loss, weight, reduction, avg_factor).to(result_dtype(pred))


def dfl_loss(pred_dist, target, reg_max: int = 16):
    """Distribution focal loss in ultralytics' form (``ultralytics.utils.loss.DFLoss``).

    ``pred_dist`` (N * 4, reg_max) logits, ``target`` (N, 4) distances (in
    units of the stride) of the four box sides. The target is clamped to
    [0, reg_max - 1 - 0.01] (as ultralytics, without modifying ``target``),
    so any real target is accepted. ultralytics' ``reg_max`` is the number of
    bins (16 in YOLOv8), one more than mmdet's. Returns (N, 1): the mean over
    the four sides, in pred_dist's dtype. ultralytics writes the right weight
    as ``1 - wl`` rather than ``label - l``; the two differ by a rounding.
    """
    check_floating(pred_dist, "pred_dist")
    check_floating(target, "target")
    if not isinstance(reg_max, numbers.Integral) or isinstance(reg_max, bool) or reg_max < 2:
        raise ArgumentError(f"reg_max must be an integer >= 2, got {reg_max!r}")
    if pred_dist.dim() != 2 or pred_dist.shape[1] != reg_max:
        raise ArgumentError(
            f"pred_dist must have shape (N * 4, reg_max = {reg_max}), got {tuple(pred_dist.shape)}"
        )
    if target.dim() != 2 or target.shape[1] != 4 or target.shape[0] * 4 != pred_dist.shape[0]:
        raise ArgumentError(
            f"target must have shape (N, 4) with N * 4 = {pred_dist.shape[0]} (pred_dist's rows), "
            f"got {tuple(target.shape)}"
        )
    check_same_device(target, "target", pred_dist, "pred_dist")
    y = target.detach().clamp(0, reg_max - 1 - 0.01)
    loss = _dfl_rows(pred_dist, y.reshape(-1), "dfl_loss").view(y.shape)
    return loss.mean(-1, keepdim=True).to(result_dtype(pred_dist))


# The modules (exported by lossext.nn).


class DistributionFocalLoss(nn.Module):
    """mmdet's DistributionFocalLoss; see :func:`lossext.distribution_focal_loss`."""

    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None) -> torch.Tensor:
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * distribution_focal_loss(pred, target, weight, reduction, avg_factor)


class DFLoss(nn.Module):
    """ultralytics' DFLoss (``reg_max`` bins); see :func:`lossext.dfl_loss`."""

    def __init__(self, reg_max: int = 16) -> None:
        super().__init__()
        self.reg_max = reg_max

    def forward(self, pred_dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dfl_loss(pred_dist, target, self.reg_max)
