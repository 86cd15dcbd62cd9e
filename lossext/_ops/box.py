import torch

from lossext.reference import box as reference_box
from lossext._cpp import BoxFmt, BoxLossMode, BoxPairKind
from lossext._ops._common import accumulate_dtype
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp


def _pairwise_fake(boxes1, boxes2, kind, fmt, eps):
    dtype = torch.float64 if torch.float64 in (boxes1.dtype, boxes2.dtype) else torch.float32
    return boxes1.new_empty([*boxes1.shape[:-1], boxes2.shape[-2]], dtype=dtype)


def _loss_fwd_fake(boxes1, boxes2, mode, fmt, eps):
    return boxes1.new_empty(boxes1.shape[:-1], dtype=accumulate_dtype(boxes1.dtype))


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


def _boxes(shape, device):
    """Valid xyxy boxes (width and height in [0.5, 5]), float32."""
    corner = torch.rand(*shape, 2, device=device) * 10
    return torch.cat([corner, corner + torch.rand(*shape, 2, device=device) * 4.5 + 0.5], -1)


def _fmt(i):
    return int(list(BoxFmt)[i % len(BoxFmt)])


def _pairwise_samples(device):
    b1, b2 = _boxes((2, 3), device), _boxes((2, 4), device)
    return [(b1, b2, int(kind), _fmt(i), 1e-7) for i, kind in enumerate(BoxPairKind)]


def _loss_fwd_samples(device):
    b1, b2 = _boxes((9,), device).requires_grad_(), _boxes((9,), device)
    return [(b1, b2, int(mode), _fmt(i), 1e-7) for i, mode in enumerate(BoxLossMode)]


def _loss_bwd_samples(device):
    b1, b2, g = _boxes((9,), device), _boxes((9,), device), torch.rand(9, device=device)
    return [(g, b1, b2, int(mode), _fmt(i), 1e-7) for i, mode in enumerate(BoxLossMode)]


def _public_loss(device):
    from lossext import functional

    def step(b1, b2):
        return functional.box_iou_loss(b1, b2, mode="siou", reduction="mean", fmt="xywh")

    return step, (_boxes((33,), device).requires_grad_(), _boxes((33,), device))


def _public_pairwise(device):
    from lossext import functional

    def step(b1, b2):
        return functional.generalized_box_iou(b1, b2, fmt="cxcywh")

    return step, (_boxes((5,), device), _boxes((7,), device))


SPECS = (
    OpSpec("box_pairwise", _pairwise_fake, _pairwise_samples, public=_public_pairwise),
    OpSpec("box_loss_fwd", _loss_fwd_fake, _loss_fwd_samples, _loss_backward, _loss_setup, _public_loss),
    OpSpec("box_loss_bwd", _loss_bwd_fake, _loss_bwd_samples),
)
