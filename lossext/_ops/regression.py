import torch

from lossext import reference
from lossext._ops._torch_vjp import building_graph, torch_vjp

_REFERENCES = (reference.smooth_l1_loss, reference.huber_loss)  # by the op's `kind`


@torch.library.register_fake("lossext::regression_fwd")
def _fwd_fake(input, target, kind, param):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


@torch.library.register_fake("lossext::regression_bwd")
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
            lambda x, t: _REFERENCES[kind](x, t, "none", param), (input, target), ctx.needs_input_grad[:2], grad_loss
        )
        return grad_input, grad_target, None, None
    grad_input = torch.ops.lossext.regression_bwd(grad_loss, input, target, *ctx.options)
    return (
        grad_input if ctx.needs_input_grad[0] else None,
        -grad_input if ctx.needs_input_grad[1] else None,
        None,
        None,
    )


torch.library.register_autograd("lossext::regression_fwd", _backward, setup_context=_setup)
