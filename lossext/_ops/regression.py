import torch

from lossext import reference
from lossext._cpp import RegressionKind
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp

_REFERENCES = {RegressionKind.SmoothL1: reference.smooth_l1_loss, RegressionKind.Huber: reference.huber_loss}


def _fwd_fake(input, target, kind, param):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _bwd_fake(grad_loss, input, target, kind, param):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _setup(ctx, inputs, output):
    input, target, kind, param = inputs
    ctx.save_for_backward(input, target)
    ctx.options = (kind, param)


def _backward(ctx, grad_loss):
    input, target = ctx.saved_tensors
    kind, param = ctx.options
    if building_graph():
        grad_input, grad_target = torch_vjp(
            lambda x, t: _REFERENCES[RegressionKind(kind)](x, t, "none", param),
            (input, target),
            ctx.needs_input_grad[:2],
            grad_loss,
        )
        return grad_input, grad_target, None, None
    grad_input = torch.ops.lossext.regression_bwd(grad_loss, input, target, *ctx.options)
    return (
        grad_input if ctx.needs_input_grad[0] else None,
        -grad_input if ctx.needs_input_grad[1] else None,
        None,
        None,
    )


def _fwd_samples(device):
    x = torch.randn(9, 3, device=device, requires_grad=True)
    t = torch.randn(9, 3, device=device)
    return [(x, t, int(RegressionKind.SmoothL1), 0.5), (x, t, int(RegressionKind.Huber), 1.5)]


def _bwd_samples(device):
    x, t = torch.randn(9, 3, device=device), torch.randn(9, 3, device=device)
    return [(torch.rand(9, 3, device=device), x, t, int(kind), 1.5) for kind in RegressionKind]


def _public(device):
    from lossext import functional

    def step(x, t):
        return functional.smooth_l1_loss(x, t, beta=0.2) + functional.huber_loss(x, t, "sum", 0.5)

    return step, (torch.randn(30, 4, device=device, requires_grad=True), torch.randn(30, 4, device=device))


SPECS = (
    OpSpec("regression_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("regression_bwd", _bwd_fake, _bwd_samples),
)
