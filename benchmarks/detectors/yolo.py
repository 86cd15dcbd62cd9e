"""The YOLOv8 detection loss step (ultralytics 8.4, `v8DetectionLoss` with its
`TaskAlignedAssigner`, `BboxLoss` and `DFLoss`), from the head's outputs to
the weighted loss the trainer back-propagates.

Inputs (what the Detect head and the dataloader hand the loss; the padding of
the batch's boxes into (B, G, .) is ultralytics' `preprocess` and stays out
of the step):
    pred_distri   (B, A, 4 * reg_max) box-side distribution logits, grad
    pred_scores   (B, A, C)           class logits, grad
    anchor_points (A, 2)              anchor centres in grid units
    stride_tensor (A, 1)              the anchor's stride in pixels
    gt_labels     (B, G, 1)           float class of each box (padding 0)
    gt_bboxes     (B, G, 4)           xyxy pixels (padding all zero)
    mask_gt       (B, G, 1)           1.0 for a real box

The step: decode the boxes (softmax expectation over the bins), assign
(task-aligned: alpha 0.5, beta 6, top-10, CIoU), then
    box = sum over foreground of (1 - CIoU) * weight / target_scores_sum
    cls = BCE-with-logits(pred_scores, target_scores) summed / target_scores_sum
    dfl = sum over foreground of DFL(4 sides, mean) * weight / target_scores_sum
    total = (7.5 box + 0.5 cls + 1.5 dfl) * B
with weight the anchor's summed target score (ultralytics' default gains).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import lossext
from benchmarks.detectors import has

STRIDES = (8, 16, 32)
BOX_GAIN, CLS_GAIN, DFL_GAIN = 7.5, 0.5, 1.5
TOPK, ALPHA, BETA, EPS = 10, 0.5, 6.0, 1e-9
GRAD_ARGS = 2
SIZES = {
    "quick": dict(batch=2, imgsz=640, classes=80, max_boxes=30, reg_max=16),
    "full": dict(batch=16, imgsz=640, classes=80, max_boxes=100, reg_max=16),
}


def make_anchors(imgsz: int, device, dtype):
    """Anchor centres (grid units, + 0.5) and strides of the three levels, row-major per level."""
    points, strides = [], []
    for s in STRIDES:
        n = imgsz // s
        ys, xs = torch.meshgrid(
            torch.arange(n, dtype=dtype) + 0.5, torch.arange(n, dtype=dtype) + 0.5, indexing="ij"
        )
        points.append(torch.stack((xs, ys), -1).view(-1, 2))
        strides.append(torch.full((n * n, 1), float(s), dtype=dtype))
    return torch.cat(points).to(device), torch.cat(strides).to(device)


def shape(size: dict) -> str:
    """batch x anchors x classes."""
    return f"{size['batch']}x{sum((size['imgsz'] // s) ** 2 for s in STRIDES)}x{size['classes']}"


def make_inputs(size: dict, device, dtype=torch.float32, seed: int = 0):
    batch, imgsz, classes, max_boxes, reg_max = (
        size["batch"],
        size["imgsz"],
        size["classes"],
        size["max_boxes"],
        size["reg_max"],
    )
    g = torch.Generator(device="cpu").manual_seed(seed)
    anchor_points, stride_tensor = make_anchors(imgsz, "cpu", torch.float32)
    anchors = anchor_points.shape[0]
    counts = torch.randint(1, max_boxes + 1, (batch,), generator=g)
    gt_labels = torch.zeros(batch, int(counts.max()), 1)
    gt_bboxes = torch.zeros(batch, int(counts.max()), 4)
    for b, n in enumerate(counts.tolist()):
        centre = torch.rand(n, 2, generator=g) * imgsz
        wh = torch.rand(n, 2, generator=g) * 200 + 4  # some below the 16-pixel floor of the candidate test
        gt_bboxes[b, :n] = torch.cat([centre - wh / 2, centre + wh / 2], -1).clamp(0, imgsz)
        gt_labels[b, :n, 0] = torch.randint(0, classes, (n,), generator=g).float()
    mask_gt = (gt_bboxes.sum(2, keepdim=True) > 0).float()
    pred_distri = torch.randn(batch, anchors, 4 * reg_max, generator=g)
    pred_scores = torch.randn(batch, anchors, classes, generator=g) * 2 - 4
    return (
        pred_distri.to(device, dtype).requires_grad_(),
        pred_scores.to(device, dtype).requires_grad_(),
        anchor_points.to(device, dtype),
        stride_tensor.to(device, dtype),
        gt_labels.to(device, dtype),
        gt_bboxes.to(device, dtype),
        mask_gt.to(device, dtype),
    )


# ---- ultralytics' formulation -------------------------------------------------------------------


def ciou(box1, box2, eps: float = 1e-7):
    """ultralytics' `bbox_iou(xywh=False, CIoU=True)`: eps on the heights, the union and the diagonal;
    the aspect term's trade-off alpha carries no gradient."""
    b1_x1, b1_y1, b1_x2, b1_y2 = box1.chunk(4, -1)
    b2_x1, b2_y1, b2_x2, b2_y2 = box2.chunk(4, -1)
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps
    inter = (b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp(0) * (
        b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)
    ).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)
    ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2).pow(2) + (b2_y1 + b2_y2 - b1_y1 - b1_y2).pow(2)) / 4
    v = (4 / math.pi**2) * ((w2 / h2).atan() - (w1 / h1).atan()).pow(2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return iou - (rho2 / c2 + v * alpha)


def _candidates_in_boxes(anchor_xy, gt_bboxes, mask_gt, stride_floor: float, eps: float = 1e-9):
    """(B, G, A) bool: the anchor centre lies strictly inside the box, whose sides are first floored to
    `stride_floor` about the centre (real boxes only)."""
    centre = (gt_bboxes[..., :2] + gt_bboxes[..., 2:]) / 2
    wh = gt_bboxes[..., 2:] - gt_bboxes[..., :2]
    wh = torch.where((wh < stride_floor) & mask_gt.bool(), torch.tensor(stride_floor, dtype=wh.dtype), wh)
    half = wh / 2
    lt, rb = (centre - half).unsqueeze(2), (centre + half).unsqueeze(2)
    inside = anchor_xy[:, 0] - lt[..., 0] > eps
    inside &= anchor_xy[:, 1] - lt[..., 1] > eps
    inside &= rb[..., 0] - anchor_xy[:, 0] > eps
    inside &= rb[..., 1] - anchor_xy[:, 1] > eps
    return inside


@torch.no_grad()
def task_aligned_assign(
    pd_scores, pd_bboxes, anchor_xy, gt_labels, gt_bboxes, mask_gt, topk=TOPK, alpha=ALPHA, beta=BETA, eps=EPS
):
    """ultralytics' `TaskAlignedAssigner(topk, num_classes=C, alpha, beta, stride=[8, 16, 32])` forward:
    (target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx)."""
    batch, anchors, classes = pd_scores.shape
    boxes = gt_bboxes.shape[1]
    if boxes == 0:
        return (
            torch.full_like(pd_scores[..., 0], classes),
            torch.zeros_like(pd_bboxes),
            torch.zeros_like(pd_scores),
            torch.zeros_like(pd_scores[..., 0], dtype=torch.bool),
            torch.zeros_like(pd_scores[..., 0]),
        )
    inside = _candidates_in_boxes(anchor_xy, gt_bboxes, mask_gt, float(STRIDES[1]))
    # The metric score^alpha * CIoU^beta, only for (box, anchor) pairs with the anchor inside the box.
    pairs = (inside * mask_gt).bool().nonzero(as_tuple=True)
    b, g, a = pairs
    pair_scores = pd_scores[b, a, gt_labels[b, g, 0].long()]
    pair_overlaps = ciou(gt_bboxes[b, g], pd_bboxes[b, a]).squeeze(-1).clamp(0)
    overlaps = torch.zeros(batch, boxes, anchors, dtype=pd_bboxes.dtype, device=pd_bboxes.device)
    metric = torch.zeros(batch, boxes, anchors, dtype=pd_scores.dtype, device=pd_scores.device)
    overlaps[pairs] = pair_overlaps
    metric[pairs] = pair_scores.pow(alpha) * pair_overlaps.pow(beta)

    # Top-k anchors per box; an anchor picked twice by one box's list (a padded box) counts for none.
    top = torch.topk(metric, topk, dim=-1, largest=True).indices
    top.masked_fill_(~mask_gt.expand(-1, -1, topk).bool(), 0)
    count = torch.zeros(metric.shape, dtype=torch.int8, device=top.device)
    count.scatter_add_(-1, top, torch.ones_like(top, dtype=torch.int8))
    count.masked_fill_(count > 1, 0)
    mask_pos = count.mul_(inside).mul_(mask_gt.bool())

    # An anchor claimed by several boxes goes to the one it overlaps most.
    claimed = mask_pos.sum(-2)
    several = (claimed.unsqueeze(1) > 1).expand(-1, boxes, -1)
    best = torch.zeros(mask_pos.shape, dtype=mask_pos.dtype, device=mask_pos.device)
    best.scatter_(1, overlaps.max(1).indices.unsqueeze(1), 1)
    mask_pos = torch.where(several, best, mask_pos)
    fg_mask, target_gt_idx = mask_pos.max(-2)

    flat = target_gt_idx + torch.arange(batch, device=gt_labels.device)[:, None] * boxes
    target_labels = gt_labels.long().flatten()[flat].clamp_(0)
    target_bboxes = gt_bboxes.view(-1, 4)[flat]
    target_scores = torch.zeros(batch, anchors, classes, dtype=torch.int8, device=target_labels.device)
    target_scores.scatter_(2, target_labels.unsqueeze(-1), 1)
    target_scores = target_scores * (fg_mask[:, :, None] > 0)

    # Each box's positives scaled so that its best-aligned anchor gets the box's best overlap.
    metric *= mask_pos
    best_metric = metric.amax(-1, keepdim=True)
    overlaps *= mask_pos
    metric.mul_(overlaps.amax(-1, keepdim=True)).div_(best_metric + eps)
    target_scores = target_scores * metric.amax(-2).unsqueeze(-1)
    return target_labels, target_bboxes, target_scores, fg_mask.bool(), target_gt_idx


def decode(pred_distri, anchor_points):
    """xyxy boxes in grid units: the expected bin of each side's softmax, off the anchor centre."""
    batch, anchors, channels = pred_distri.shape
    reg_max = channels // 4
    proj = torch.arange(reg_max, dtype=pred_distri.dtype, device=pred_distri.device)
    dist = pred_distri.view(batch, anchors, 4, reg_max).softmax(3).matmul(proj)
    lt, rb = dist.chunk(2, -1)
    return torch.cat((anchor_points - lt, anchor_points + rb), -1)


def side_distances(anchor_points, boxes, reg_max: int):
    """ltrb distances of the boxes from the anchors, clamped into the bins' range [0, reg_max - 1.01]."""
    x1y1, x2y2 = boxes.chunk(2, -1)
    return torch.cat((anchor_points - x1y1, x2y2 - anchor_points), -1).clamp_(0, reg_max - 1 - 0.01)


def dfl_per_box(pred_dist, target):
    """ultralytics' DFLoss: (N * 4, reg_max) logits, (N, 4) distances -> (N, 1), the mean over the sides."""
    left = target.long()
    right = left + 1
    w_left = right - target
    w_right = 1 - w_left
    logp = F.log_softmax(pred_dist, dim=1)
    picked = logp.gather(1, left.view(-1, 1)).view(left.shape) * w_left
    picked = picked + logp.gather(1, right.view(-1, 1)).view(left.shape) * w_right
    return -picked.mean(-1, keepdim=True)


def _assigned(pred_distri, pred_scores, anchor_points, stride_tensor, gt_labels, gt_bboxes, mask_gt, assign):
    pred_bboxes = decode(pred_distri, anchor_points)
    _, target_bboxes, target_scores, fg_mask, _ = assign(
        pred_scores.detach().sigmoid(),
        (pred_bboxes.detach() * stride_tensor).type(gt_bboxes.dtype),
        anchor_points * stride_tensor,
        gt_labels,
        gt_bboxes,
        mask_gt,
    )
    return pred_bboxes, target_bboxes / stride_tensor, target_scores, fg_mask


def framework_step(pred_distri, pred_scores, anchor_points, stride_tensor, gt_labels, gt_bboxes, mask_gt):
    batch, reg_max = pred_distri.shape[0], pred_distri.shape[-1] // 4
    pred_bboxes, target_bboxes, target_scores, fg_mask = _assigned(
        pred_distri,
        pred_scores,
        anchor_points,
        stride_tensor,
        gt_labels,
        gt_bboxes,
        mask_gt,
        task_aligned_assign,
    )
    target_scores_sum = target_scores.sum().clamp(min=1)
    cls = F.binary_cross_entropy_with_logits(
        pred_scores, target_scores.to(pred_scores.dtype), reduction="none"
    )
    cls = cls.sum() / target_scores_sum
    fg = fg_mask.nonzero(as_tuple=True)
    weight = target_scores[fg].sum(-1, keepdim=True)
    box = ((1.0 - ciou(pred_bboxes[fg], target_bboxes[fg])) * weight).sum() / target_scores_sum
    target_ltrb = side_distances(anchor_points, target_bboxes, reg_max)
    dfl = (dfl_per_box(pred_distri[fg].view(-1, reg_max), target_ltrb[fg]) * weight).sum() / target_scores_sum
    return (BOX_GAIN * box + CLS_GAIN * cls + DFL_GAIN * dfl) * batch


# ---- the lossext composition ----------------------------------------------------------------------
# One function per loss term, so that a fused op replaces its term in one line.
NEWER_OPS = ("task_aligned_assign", "binary_cross_entropy_with_logits", "dfl_loss")


def _assign(pd_scores, pd_bboxes, anchor_xy, gt_labels, gt_bboxes, mask_gt):
    if has("task_aligned_assign"):
        return lossext.task_aligned_assign(
            pd_scores, pd_bboxes, anchor_xy, gt_labels, gt_bboxes, mask_gt, TOPK, ALPHA, BETA, EPS,
            min_box_side=float(STRIDES[1]),
        )  # fmt: skip
    return task_aligned_assign(pd_scores, pd_bboxes, anchor_xy, gt_labels, gt_bboxes, mask_gt)


def _cls_term(pred_scores, target_scores, normalizer):
    if has("binary_cross_entropy_with_logits"):
        return lossext.binary_cross_entropy_with_logits(
            pred_scores, target_scores, reduction="sum", normalizer=normalizer
        )
    # Sigmoid focal with gamma 0 and alpha disabled is BCE with logits.
    return lossext.sigmoid_focal_loss(pred_scores, target_scores, -1.0, 0.0, "sum", normalizer=normalizer)


def _box_term(pred_boxes, target_boxes):
    return lossext.complete_box_iou_loss(pred_boxes, target_boxes)


def _dfl_term(pred_dist, target):
    """(N * 4, reg_max) logits, (N, 4) distances -> (N,), the mean over the sides."""
    if has("dfl_loss"):
        return lossext.dfl_loss(pred_dist, target, pred_dist.shape[1]).squeeze(-1)
    left = target.long()
    w_right = target - left
    ce_left = lossext.cross_entropy(pred_dist, left.view(-1), reduction="none").view(left.shape)
    ce_right = lossext.cross_entropy(pred_dist, (left + 1).view(-1), reduction="none").view(left.shape)
    return (ce_left * (1 - w_right) + ce_right * w_right).mean(-1)


def lossext_step(pred_distri, pred_scores, anchor_points, stride_tensor, gt_labels, gt_bboxes, mask_gt):
    batch, reg_max = pred_distri.shape[0], pred_distri.shape[-1] // 4
    pred_bboxes, target_bboxes, target_scores, fg_mask = _assigned(
        pred_distri, pred_scores, anchor_points, stride_tensor, gt_labels, gt_bboxes, mask_gt, _assign
    )
    target_scores_sum = target_scores.sum().clamp(min=1)
    cls = _cls_term(pred_scores, target_scores.to(pred_scores.dtype), target_scores_sum)
    fg = fg_mask.nonzero(as_tuple=True)
    weight = target_scores[fg].sum(-1)
    box = (_box_term(pred_bboxes[fg], target_bboxes[fg]) * weight).sum() / target_scores_sum
    target_ltrb = side_distances(anchor_points, target_bboxes, reg_max)
    dfl = (_dfl_term(pred_distri[fg].view(-1, reg_max), target_ltrb[fg]) * weight).sum() / target_scores_sum
    return (BOX_GAIN * box + CLS_GAIN * cls + DFL_GAIN * dfl) * batch


# ---- ultralytics' own code, where it is installed (build/peers) ----------------------------------


class _Model(torch.nn.Module):
    """What v8DetectionLoss reads of a DetectionModel: its hyperparameters, the Detect layer's
    strides, class count and bins, and the device of its parameters."""

    def __init__(self, classes: int, reg_max: int, device):
        super().__init__()
        from types import SimpleNamespace

        self.args = SimpleNamespace(box=BOX_GAIN, cls=CLS_GAIN, dfl=DFL_GAIN)
        detect = SimpleNamespace(
            stride=torch.tensor([float(s) for s in STRIDES]), nc=classes, reg_max=reg_max
        )
        self.model = [detect]
        self.anchor = torch.nn.Parameter(torch.zeros(1, device=device))


def ultralytics_step():
    """The step run by ultralytics' own v8DetectionLoss (None when it is not importable), taking the
    step's inputs: the padded boxes are turned back into the dataloader's normalised xywh rows, which
    its `preprocess` pads again."""
    from benchmarks import peers

    ul = peers.ultralytics_loss()
    if ul is None:
        return None
    criteria = {}

    def step(pred_distri, pred_scores, anchor_points, stride_tensor, gt_labels, gt_bboxes, mask_gt):
        batch, anchors, classes = pred_scores.shape
        reg_max = pred_distri.shape[-1] // 4
        key = (classes, reg_max, pred_scores.device)
        if key not in criteria:
            criteria[key] = ul.v8DetectionLoss(_Model(classes, reg_max, pred_scores.device), tal_topk=TOPK)
        side = int(round(math.sqrt(anchors / sum(1 / s**2 for s in STRIDES))))
        feats = [pred_scores.new_zeros(batch, 1, side // s, side // s) for s in STRIDES]
        real = mask_gt[..., 0].bool()
        boxes = gt_bboxes[real] / side
        batch_data = {
            "batch_idx": real.nonzero()[:, 0].to(pred_scores.dtype),
            "cls": gt_labels[real],
            "bboxes": torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], -1),
        }
        preds = {"boxes": pred_distri.transpose(1, 2), "scores": pred_scores.transpose(1, 2), "feats": feats}
        return criteria[key](preds, batch_data)[0].sum()

    return step
