"""Task-aligned assignment (TOOD) on a fused kernel: ultralytics'
``TaskAlignedAssigner`` without its (B, G, A) float tensors (docs/task_aligned.md)."""

from __future__ import annotations

import torch
from torch import nn

from lossext import _cpp, _ext, reference
from lossext._errors import ArgumentError
from lossext._ops._spec import OpSpec
from lossext._validate import check_number, check_same_device, check_tensor, check_values

# The op: fake kernel and samples (no autograd: the assignment has no gradient).


def _fake(
    pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt, topk, alpha, beta, eps, overlap, min_side
):
    batch, anchors, classes = pd_scores.shape
    return (
        pd_scores.new_empty((batch, anchors), dtype=torch.long),
        pd_scores.new_empty((batch, anchors, 4), dtype=gt_bboxes.dtype),
        pd_scores.new_empty((batch, anchors, classes)),
        pd_scores.new_empty((batch, anchors), dtype=torch.bool),
        pd_scores.new_empty((batch, anchors), dtype=torch.long),
    )


def _inputs(device, boxes=3, dtype=torch.float32, seed=0):
    """Two images, a 6 x 6 grid of anchor points (stride 4), 5 classes; the
    last box of image 1 is padding."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.arange(6, dtype=torch.float32) * 4 + 2
    anc = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    centre = torch.rand(2, boxes, 2, generator=g) * 24
    half = torch.rand(2, boxes, 2, generator=g) * 6 + 2
    gt = torch.cat([centre - half, centre + half], -1)
    pc = anc + torch.randn(2, 36, 2, generator=g)
    ph = torch.rand(2, 36, 2, generator=g) * 5 + 2
    pd = torch.cat([pc - ph, pc + ph], -1)
    labels = torch.randint(0, 5, (2, boxes), generator=g)
    mask = torch.ones(2, boxes, dtype=torch.bool)
    if boxes:
        mask[1, -1] = False
    scores = torch.rand(2, 36, 5, generator=g).to(dtype)
    return tuple(t.to(device) for t in (scores, pd, anc, labels, gt, mask))


def _samples(device):
    return [
        (*_inputs(device), 4, 1.0, 6.0, 1e-9, 0, 8.0),
        (*_inputs(device, dtype=torch.float16, seed=1), 20, 0.5, 2.0, 1e-9, 1, 0.0),
        (*_inputs(device, boxes=0), 4, 1.0, 6.0, 1e-9, 0, 8.0),
    ]


def _public(device):
    def assign(*args):
        return task_aligned_assign(*args, topk=4, min_box_side=8.0)

    return assign, _inputs(device)


SPECS = (OpSpec("task_aligned_assign", _fake, _samples, public=_public),)


# The public function (exported by lossext and lossext.functional).

OVERLAPS = _cpp.names(_cpp.OverlapKind)  # ('ciou', 'iou')


def _boxes_arg(x, name, last):
    check_tensor(x, name)
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {x.dtype}")
    if x.dim() != 3 or x.shape[-1] != last:
        raise ArgumentError(
            f"{name} must have shape (B, {'A' if name.startswith('pd') else 'G'}, {last}), "
            f"got {tuple(x.shape)}"
        )


def _per_box(x, name, batch, boxes):
    """(B, G, 1) or (B, G) -> (B, G)."""
    check_tensor(x, name)
    if x.dim() == 3 and x.shape[-1] == 1:
        x = x.squeeze(-1)
    if x.dim() != 2 or tuple(x.shape) != (batch, boxes):
        raise ArgumentError(
            f"{name} must have shape (B, G, 1) or (B, G) = ({batch}, {boxes}), got {tuple(x.shape)}"
        )
    if x.is_complex():
        raise TypeError(f"{name} must be a real tensor, got {x.dtype}")
    return x


@torch.no_grad()
def task_aligned_assign(
    pd_scores: torch.Tensor,
    pd_bboxes: torch.Tensor,
    anc_points: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_bboxes: torch.Tensor,
    mask_gt: torch.Tensor,
    topk: int = 13,
    alpha: float = 1.0,
    beta: float = 6.0,
    eps: float = 1e-9,
    iou: str = "ciou",
    min_box_side: float = 16.0,
):
    """ultralytics' ``TaskAlignedAssigner`` (8.4.x) as one function, fused.

    For each image, ground-truth box g (``mask_gt`` set) and anchor point a:
    a is a candidate of g when it lies inside g (more than 1e-9 from each
    side; sides of g shorter than ``min_box_side`` count as that long, about
    g's centre), overlap = max(CIoU(g, pd_a), 0) (``iou='iou'``: plain IoU),
    metric = score(a, label_g)^alpha * overlap^beta. Each box keeps its
    ``topk`` anchors of largest metric over all A anchors (equal metrics: the
    lower anchor index first), of which the candidates are its positives; an
    anchor positive for several boxes goes to the box of largest overlap
    (lowest box index on ties). The target score of a positive anchor is
    metric * max overlap / (max metric + eps) at its label, the maxima over
    its box's positives.

    Args:
        pd_scores: (B, A, C) class probabilities (sigmoid outputs), float32,
            float16, bfloat16 or float64; computed in float32.
        pd_bboxes: (B, A, 4) predicted boxes, xyxy.
        anc_points: (A, 2) anchor points.
        gt_labels: (B, G, 1) or (B, G) class of each box, integer or float
            (truncated, as ``.long()``); a real box's in [0, C).
        gt_bboxes: (B, G, 4) boxes, xyxy.
        mask_gt: (B, G, 1) or (B, G), nonzero for a real box, 0 for padding.
        topk: boxes keep this many anchors, 1 <= topk <= min(A, 64).
        alpha, beta: exponents >= 0 of the score and the overlap.
        eps: >= 0, added to a box's largest metric in the normalisation.
        iou: 'ciou' (ultralytics) or 'iou'.
        min_box_side: ultralytics' ``stride[1]`` (16 for strides 8, 16, 32);
            0 turns the widening off (ultralytics before it).

    Returns ``(target_labels, target_bboxes, target_scores, fg_mask,
    target_gt_idx)``: int64 (B, A) labels, (B, A, 4) boxes in gt_bboxes'
    dtype, (B, A, C) scores in pd_scores' dtype, bool (B, A) foreground mask,
    int64 (B, A) box index. A background anchor gets box 0's label (clamped
    at 0) and box, index 0 and zero scores, as ultralytics; with G = 0 every
    label is C. No gradient (ultralytics runs it under ``no_grad``).
    """
    check_tensor(pd_scores, "pd_scores")
    if not pd_scores.is_floating_point():
        raise TypeError(f"pd_scores must be a floating tensor, got {pd_scores.dtype}")
    if pd_scores.dim() != 3 or pd_scores.shape[-1] < 1:
        raise ArgumentError(f"pd_scores must have shape (B, A, C) with C >= 1, got {tuple(pd_scores.shape)}")
    batch, anchors, classes = pd_scores.shape
    _boxes_arg(pd_bboxes, "pd_bboxes", 4)
    if tuple(pd_bboxes.shape[:2]) != (batch, anchors):
        raise ArgumentError(
            f"pd_bboxes must have shape (B, A, 4) = ({batch}, {anchors}, 4), got {tuple(pd_bboxes.shape)}"
        )
    check_tensor(anc_points, "anc_points")
    if not anc_points.is_floating_point():
        raise TypeError(f"anc_points must be a floating tensor, got {anc_points.dtype}")
    if tuple(anc_points.shape) != (anchors, 2):
        raise ArgumentError(
            f"anc_points must have shape (A, 2) = ({anchors}, 2), got {tuple(anc_points.shape)}"
        )
    _boxes_arg(gt_bboxes, "gt_bboxes", 4)
    if gt_bboxes.shape[0] != batch:
        raise ArgumentError(
            f"gt_bboxes must have shape (B, G, 4) with B = {batch}, got {tuple(gt_bboxes.shape)}"
        )
    boxes = gt_bboxes.shape[1]
    gt_labels = _per_box(gt_labels, "gt_labels", batch, boxes)
    if gt_labels.dtype == torch.bool:
        raise TypeError("gt_labels must be an integer or floating tensor, got torch.bool")
    mask_gt = _per_box(mask_gt, "mask_gt", batch, boxes)
    for name, x in (
        ("pd_bboxes", pd_bboxes),
        ("anc_points", anc_points),
        ("gt_labels", gt_labels),
        ("gt_bboxes", gt_bboxes),
        ("mask_gt", mask_gt),
    ):
        check_same_device(x, name, pd_scores, "pd_scores")
    if not isinstance(topk, int) or isinstance(topk, bool):
        raise TypeError(f"topk must be an int, got {type(topk).__name__} {topk!r}")
    if not 1 <= topk <= _cpp.TAL_MAX_TOPK:
        raise ArgumentError(f"topk must be in [1, {_cpp.TAL_MAX_TOPK}], got {topk}")
    if topk > anchors:
        raise ArgumentError(f"topk must be at most the number of anchors A = {anchors}, got {topk}")
    alpha = check_number(alpha, "alpha", 0.0)
    beta = check_number(beta, "beta", 0.0)
    eps = check_number(eps, "eps", 0.0)
    min_box_side = check_number(min_box_side, "min_box_side", 0.0)
    if iou not in OVERLAPS:
        raise ArgumentError(f"iou must be one of {OVERLAPS}, got {iou!r}")
    if boxes > 0:
        labels = gt_labels.long()
        check_values(
            ((labels >= 0) & (labels < classes)) | (mask_gt == 0),
            IndexError,
            f"gt_labels of a box with mask_gt set must be in [0, C) = [0, {classes})",
        )
    if not _ext.has_kernels(pd_scores.device):
        _ext.warn_fallback("task_aligned_assign", pd_scores.device)
        return reference.task_aligned_assign(
            pd_scores,
            pd_bboxes,
            anc_points,
            gt_labels,
            gt_bboxes,
            mask_gt,
            topk,
            alpha,
            beta,
            eps,
            iou,
            min_box_side,
        )
    return torch.ops.lossext.task_aligned_assign(
        pd_scores,
        pd_bboxes,
        anc_points,
        gt_labels,
        gt_bboxes,
        mask_gt,
        topk,
        alpha,
        beta,
        eps,
        int(_cpp.code(_cpp.OverlapKind, iou)),
        min_box_side,
    )


# The module (exported by lossext.nn).


class TaskAlignedAssigner(nn.Module):
    """ultralytics' ``TaskAlignedAssigner`` (same constructor and forward), on
    the fused kernel; see :func:`lossext.task_aligned_assign`. ``stride``
    gives the smallest box side of the inside test as ultralytics does
    (``stride[1]``, or ``stride[0]`` for one stride); ``topk2`` other than
    ``topk`` is not supported. ``num_classes`` must be pd_scores' C."""

    def __init__(
        self,
        topk: int = 13,
        num_classes: int = 80,
        alpha: float = 1.0,
        beta: float = 6.0,
        stride: list | None = None,
        eps: float = 1e-9,
        topk2: int | None = None,
        iou: str = "ciou",
    ) -> None:
        super().__init__()
        if topk2 is not None and topk2 != topk:
            raise ArgumentError(f"topk2 other than topk is not supported, got topk={topk}, topk2={topk2}")
        self.topk = topk
        self.num_classes = num_classes
        self.alpha = alpha
        self.beta = beta
        self.stride = list(stride) if stride is not None else [8, 16, 32]
        if not self.stride:
            raise ArgumentError("stride must hold at least one stride")
        self.stride_val = self.stride[1] if len(self.stride) > 1 else self.stride[0]
        self.eps = eps
        self.iou = iou

    def forward(self, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt):
        if (
            isinstance(pd_scores, torch.Tensor)
            and pd_scores.dim() == 3
            and pd_scores.shape[-1] != self.num_classes
        ):
            raise ArgumentError(
                f"pd_scores has {pd_scores.shape[-1]} classes but the assigner num_classes={self.num_classes}"
            )
        return task_aligned_assign(
            pd_scores,
            pd_bboxes,
            anc_points,
            gt_labels,
            gt_bboxes,
            mask_gt,
            self.topk,
            self.alpha,
            self.beta,
            self.eps,
            self.iou,
            float(self.stride_val),
        )
