"""The box IoU family: torchvision-compatible pairwise matrices and aligned
box-regression losses on the fused kernels of csrc/kernels/box.h.

Formats ('xyxy', 'xywh', 'cxcywh') are converted to corners inside the
kernels, and their gradients are chained back there too: no converted copy
of the boxes is made.
"""

import torch
from torch import nn

from lossext import _ext, reference
from lossext._cpp import BoxFmt, BoxLossMode, BoxPairKind, code
from lossext._errors import ArgumentError
from lossext._ops._common import accumulate_dtype
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext._validate import check_number, check_reduction, check_same_device, check_tensor
from lossext.reference import box as reference_box
from lossext.reference.box import FMTS, LOSS_MODES


# The ops: fake kernels, samples and autograd (registered by lossext._ops from SPECS).


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
    def step(b1, b2):
        return box_iou_loss(b1, b2, mode="siou", reduction="mean", fmt="xywh")

    return step, (_boxes((33,), device).requires_grad_(), _boxes((33,), device))


def _public_pairwise(device):
    def step(b1, b2):
        return generalized_box_iou(b1, b2, fmt="cxcywh")

    return step, (_boxes((5,), device), _boxes((7,), device))


SPECS = (
    OpSpec("box_pairwise", _pairwise_fake, _pairwise_samples, public=_public_pairwise),
    OpSpec("box_loss_fwd", _loss_fwd_fake, _loss_fwd_samples, _loss_backward, _loss_setup, _public_loss),
    OpSpec("box_loss_bwd", _loss_bwd_fake, _loss_bwd_samples),
)


# The public functions (exported by lossext.functional and lossext).


def _check_boxes(boxes, name, min_dim):
    check_tensor(boxes, name)
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise TypeError(f"{name} must hold real numbers, got {boxes.dtype}")
    if boxes.dim() < min_dim or boxes.shape[-1] != 4:
        shape = "[..., 4]" if min_dim == 1 else "[..., N, 4]"
        raise ArgumentError(f"{name} must have shape {shape} (last dimension 4), got {tuple(boxes.shape)}")


def _check_choice(value, name, allowed):
    if value not in allowed:
        raise ArgumentError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _pairwise(boxes1, boxes2, kind, eps, fmt, name):
    _check_boxes(boxes1, "boxes1", 2)
    _check_boxes(boxes2, "boxes2", 2)
    check_same_device(boxes2, "boxes2", boxes1, "boxes1")
    _check_choice(fmt, "fmt", FMTS)
    check_number(eps, "eps", 0)
    try:
        batch = torch.broadcast_shapes(boxes1.shape[:-2], boxes2.shape[:-2])
    except RuntimeError as err:
        raise ArgumentError(
            f"boxes1 and boxes2 batch dimensions do not broadcast: {tuple(boxes1.shape)} and {tuple(boxes2.shape)}"
        ) from err
    # The kernel has no backward: a differentiable request takes the reference.
    wants_grad = torch.is_grad_enabled() and (boxes1.requires_grad or boxes2.requires_grad)
    if wants_grad or not _ext.has_kernels(boxes1.device):
        if not wants_grad:
            _ext.warn_fallback(name, boxes1.device)
        return reference.box._pairwise(boxes1, boxes2, kind, eps, fmt)
    boxes1 = boxes1.expand(*batch, *boxes1.shape[-2:])
    boxes2 = boxes2.expand(*batch, *boxes2.shape[-2:])
    return torch.ops.lossext.box_pairwise(
        boxes1, boxes2, int(code(BoxPairKind, kind)), int(code(BoxFmt, fmt)), float(eps)
    )


_PAIRWISE_DOC = """

    Args:
        boxes1: [..., N, 4], boxes2: [..., M, 4] (batch dimensions broadcast).
        fmt: 'xyxy' (x1, y1, x2, y2), 'xywh' (x1, y1, w, h) or 'cxcywh'.

    Returns [..., N, M]: float64 for float64 boxes, float32 for every other
    dtype (integer, float16, bfloat16, float32), as torchvision returns them.
    The kernel writes the matrix tile by tile and has no backward: when a box
    tensor requires grad the differentiable reference runs instead.
    Degenerate boxes follow torchvision: zero-area pairs give nan IoU (0/0).
"""


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor, fmt: str = "xyxy") -> torch.Tensor:
    """Pairwise IoU, as ``torchvision.ops.box_iou``."""
    return _pairwise(boxes1, boxes2, "iou", 0.0, fmt, "box_iou")


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor, fmt: str = "xyxy") -> torch.Tensor:
    """Pairwise GIoU, as ``torchvision.ops.generalized_box_iou``."""
    return _pairwise(boxes1, boxes2, "giou", 0.0, fmt, "generalized_box_iou")


def distance_box_iou(
    boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-7, fmt: str = "xyxy"
) -> torch.Tensor:
    """Pairwise DIoU, as ``torchvision.ops.distance_box_iou`` (eps on the enclosing diagonal^2)."""
    return _pairwise(boxes1, boxes2, "diou", eps, fmt, "distance_box_iou")


def complete_box_iou(
    boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-7, fmt: str = "xyxy"
) -> torch.Tensor:
    """Pairwise CIoU, as ``torchvision.ops.complete_box_iou``."""
    return _pairwise(boxes1, boxes2, "ciou", eps, fmt, "complete_box_iou")


for _f in (box_iou, generalized_box_iou, distance_box_iou, complete_box_iou):
    _f.__doc__ += _PAIRWISE_DOC


def box_iou_loss(
    boxes1: torch.Tensor,
    boxes2: torch.Tensor,
    mode: str = "giou",
    reduction: str = "none",
    eps: float = 1e-7,
    fmt: str = "xyxy",
) -> torch.Tensor:
    """IoU-family loss of aligned box pairs (boxes1[i] against boxes2[i]).

    Args:
        boxes1, boxes2: [..., 4] of the same shape (predictions, targets).
        mode: 'iou' (1 - IoU), 'giou', 'diou', 'ciou' (torchvision's
            conventions: eps added to the union, the enclosing area and the
            enclosing diagonal^2; CIoU's alpha carries no gradient), 'eiou'
            (DIoU + dw^2/(c_w^2+eps) + dh^2/(c_h^2+eps)) or 'siou' (Gevorgyan
            2022: 1 - IoU + (distance cost + shape cost)/2 with the angle
            cost 2|s_x||s_y|/(s_x^2+s_y^2+eps); formulas in csrc/kernels/box.h).
        reduction: 'none' | 'mean' | 'sum'; 'mean' of no pairs is 0 with a
            gradient, as torchvision.
        fmt: 'xyxy', 'xywh' or 'cxcywh'.

    Returns the loss in float32 for float16 / bfloat16 / float32 / integer
    boxes and float64 for float64 boxes. Forward and backward are one fused
    kernel each (closed-form gradient of both boxes).

    Degenerate boxes give finite values and gradients: a zero-width or
    zero-height box has area 0, so IoU is 0 (loss 1 plus the mode's
    penalty, which is finite since eps keeps every denominator positive);
    x2 < x1 is used as a signed (negative) width, as torchvision does;
    CIoU's atan(w/h) is pi/2 for h = 0 and 0 for a point box (torchvision:
    nan); SIoU with coincident centres has angle cost 0 and zero distance
    cost. Identical boxes give loss 0 (up to eps) in every mode.
    """
    _check_boxes(boxes1, "boxes1", 1)
    _check_boxes(boxes2, "boxes2", 1)
    check_same_device(boxes2, "boxes2", boxes1, "boxes1")
    _check_choice(mode, "mode", LOSS_MODES)
    _check_choice(fmt, "fmt", FMTS)
    check_number(eps, "eps", 0)
    check_reduction(reduction)
    if boxes1.shape != boxes2.shape:
        raise ArgumentError(
            f"boxes1 and boxes2 must have the same shape (aligned pairs), got {tuple(boxes1.shape)} and "
            f"{tuple(boxes2.shape)}"
        )
    if not _ext.has_kernels(boxes1.device):
        _ext.warn_fallback("box_iou_loss", boxes1.device)
        return reference.box_iou_loss(boxes1, boxes2, mode, reduction, eps, fmt)
    dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    loss = torch.ops.lossext.box_loss_fwd(
        boxes1.to(dtype), boxes2.to(dtype), int(code(BoxLossMode, mode)), int(code(BoxFmt, fmt)), float(eps)
    )
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    # torchvision: 0 with a gradient for no pairs, rather than nan.
    return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()


def generalized_box_iou_loss(
    boxes1: torch.Tensor, boxes2: torch.Tensor, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy"
) -> torch.Tensor:
    """``torchvision.ops.generalized_box_iou_loss``, plus ``fmt`` ('xyxy', 'xywh' or
    'cxcywh') as :func:`box_iou_loss` and ``box_iou`` take it."""
    return box_iou_loss(boxes1, boxes2, "giou", reduction, eps, fmt)


def distance_box_iou_loss(
    boxes1: torch.Tensor, boxes2: torch.Tensor, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy"
) -> torch.Tensor:
    """``torchvision.ops.distance_box_iou_loss``, plus ``fmt`` ('xyxy', 'xywh' or
    'cxcywh') as :func:`box_iou_loss` and ``box_iou`` take it."""
    return box_iou_loss(boxes1, boxes2, "diou", reduction, eps, fmt)


def complete_box_iou_loss(
    boxes1: torch.Tensor, boxes2: torch.Tensor, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy"
) -> torch.Tensor:
    """``torchvision.ops.complete_box_iou_loss``, plus ``fmt`` ('xyxy', 'xywh' or
    'cxcywh') as :func:`box_iou_loss` and ``box_iou`` take it."""
    return box_iou_loss(boxes1, boxes2, "ciou", reduction, eps, fmt)


# The modules (exported by lossext.nn).


class BoxIoULoss(nn.Module):
    """Aligned-pair IoU-family loss; see :func:`lossext.box_iou_loss`."""

    def __init__(
        self, mode: str = "giou", reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy"
    ) -> None:
        super().__init__()
        self.mode = mode
        self.reduction = reduction
        self.eps = eps
        self.fmt = fmt

    def forward(self, boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
        return box_iou_loss(boxes1, boxes2, self.mode, self.reduction, self.eps, self.fmt)


class GeneralizedBoxIoULoss(BoxIoULoss):
    """``torchvision.ops.generalized_box_iou_loss`` as a module."""

    def __init__(self, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy") -> None:
        super().__init__("giou", reduction, eps, fmt)


class DistanceBoxIoULoss(BoxIoULoss):
    """``torchvision.ops.distance_box_iou_loss`` as a module."""

    def __init__(self, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy") -> None:
        super().__init__("diou", reduction, eps, fmt)


class CompleteBoxIoULoss(BoxIoULoss):
    """``torchvision.ops.complete_box_iou_loss`` as a module."""

    def __init__(self, reduction: str = "none", eps: float = 1e-7, fmt: str = "xyxy") -> None:
        super().__init__("ciou", reduction, eps, fmt)
