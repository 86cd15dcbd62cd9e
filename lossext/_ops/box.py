import torch

from lossext.reference import box as reference_box
from lossext._ops._common import accumulate_dtype
from lossext._ops._torch_vjp import building_graph, torch_vjp


@torch.library.register_fake("lossext::box_pairwise")
def _pairwise_fake(boxes1, boxes2, kind, fmt, eps):
    dtype = torch.float64 if torch.float64 in (boxes1.dtype, boxes2.dtype) else torch.float32
    return boxes1.new_empty([*boxes1.shape[:-1], boxes2.shape[-2]], dtype=dtype)


@torch.library.register_fake("lossext::box_loss_fwd")
def _loss_fwd_fake(boxes1, boxes2, mode, fmt, eps):
    return boxes1.new_empty(boxes1.shape[:-1], dtype=accumulate_dtype(boxes1.dtype))


@torch.library.register_fake("lossext::box_loss_bwd")
def _loss_bwd_fake(grad_loss, boxes1, boxes2, mode, fmt, eps):
    g = torch.empty_like(boxes1, memory_format=torch.contiguous_format)
    return g, torch.empty_like(g)


def _loss_setup(ctx, inputs, output):
    boxes1, boxes2, mode, fmt, eps = inputs
    ctx.save_for_backward(boxes1, boxes2)
    ctx.options = (mode, fmt, eps)


def _loss_backward(ctx, grad_loss):
    boxes1, boxes2 = ctx.saved_tensors
    if building_graph():
        mode, fmt, eps = ctx.options
        grads = torch_vjp(
            lambda b1, b2: reference_box.box_pair_loss(
                b1, b2, reference_box.LOSS_MODES[mode], eps, reference_box.FMTS[fmt]
            ),
            (boxes1, boxes2),
            ctx.needs_input_grad[:2],
            grad_loss,
        )
        return (*grads, None, None, None)
    grad1, grad2 = torch.ops.lossext.box_loss_bwd(grad_loss, boxes1, boxes2, *ctx.options)
    return (
        grad1 if ctx.needs_input_grad[0] else None,
        grad2 if ctx.needs_input_grad[1] else None,
        None,
        None,
        None,
    )


torch.library.register_autograd("lossext::box_loss_fwd", _loss_backward, setup_context=_loss_setup)
