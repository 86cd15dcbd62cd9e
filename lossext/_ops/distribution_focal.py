import torch

from lossext import reference
from lossext._ops._common import accumulate_dtype
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp


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
    from lossext import functional

    def step(pred, label):
        return functional.distribution_focal_loss(pred, label, avg_factor=4.0)

    pred, label = _inputs(device)
    return step, (pred.requires_grad_(), label)


SPECS = (
    OpSpec("distribution_focal_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("distribution_focal_bwd", _bwd_fake, _bwd_samples),
)
