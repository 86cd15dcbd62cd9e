"""The GFL head's loss step (mmdet `GFLHead`: `loss_by_feat` / `loss_by_feat_single`, with its
default losses QualityFocalLoss(beta 2), DistributionFocalLoss(weight 0.25), GIoULoss(weight 2)),
from the head's outputs and the ATSS-assigned targets to the summed loss.

Inputs (the assignment, ATSS, runs before the loss and stays out of the step):
    cls_score     (B, A, C)             class logits, grad
    bbox_pred     (B, A, 4 * (n + 1))   side distributions over the bins 0..n, grad
    anchors       (A, 4)                xyxy pixels, the levels concatenated
    strides       (A,)                  the anchor's level stride
    labels        (B, A)                int64 class, C for background
    label_weights (B, A)                float
    bbox_targets  (B, A, 4)             xyxy pixels (read on the positives)

mmdet runs loss_by_feat_single once per level; every term is a sum over anchors divided by a
normaliser shared by all levels, so the levels concatenated give the same total (the summation
order differs). The step: the positives' boxes decoded in stride units (softmax expectation,
distance from the anchor centre); score = IoU(decoded, target) without gradient; weight = the
positive's highest class probability without gradient; then
    qfl = QFL(cls_score, (labels, score), label_weights) / num_total_samples
    box = 2 * sum(weight * (1 - GIoU)) / sum(weight)
    dfl = 0.25 * sum(weight * DFL over the 4 sides) / 4 / sum(weight)
num_total_samples = sum over images of max(positives, 1); sum(weight) clamped to >= 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import lossext
from benchmarks.detectors import has

STRIDES = (8, 16, 32, 64, 128)
ANCHOR_SCALE = 8  # octave_base_scale * stride: the square anchor's side
QFL_BETA, DFL_WEIGHT, GIOU_WEIGHT = 2.0, 0.25, 2.0
EPS32 = torch.finfo(torch.float32).eps  # mmdet's weight_reduce_loss: sum / (avg_factor + eps)
POSITIVE_FRACTION = 0.02
GRAD_ARGS = 2
SIZES = {
    "quick": dict(batch=2, imgsz=640, classes=80, reg_max=16),
    "full": dict(batch=16, imgsz=640, classes=80, reg_max=16),
}


def make_anchors(imgsz: int, dtype=torch.float32):
    anchors, strides = [], []
    for s in STRIDES:
        n = -(-imgsz // s)
        ys, xs = torch.meshgrid(
            torch.arange(n, dtype=dtype) * s, torch.arange(n, dtype=dtype) * s, indexing="ij"
        )
        centre = torch.stack((xs, ys), -1).view(-1, 2)
        half = ANCHOR_SCALE * s / 2
        anchors.append(torch.cat([centre - half, centre + half], -1))
        strides.append(torch.full((n * n,), float(s), dtype=dtype))
    return torch.cat(anchors), torch.cat(strides)


def shape(size: dict) -> str:
    """batch x anchors x classes."""
    return f"{size['batch']}x{sum((-(-size['imgsz'] // s)) ** 2 for s in STRIDES)}x{size['classes']}"


def make_inputs(size: dict, device, dtype=torch.float32, seed: int = 0):
    batch, imgsz, classes, reg_max = size["batch"], size["imgsz"], size["classes"], size["reg_max"]
    g = torch.Generator(device="cpu").manual_seed(seed)
    anchors, strides = make_anchors(imgsz)
    count = anchors.shape[0]
    labels = torch.full((batch, count), classes, dtype=torch.int64)
    positive = torch.rand(batch, count, generator=g) < POSITIVE_FRACTION
    labels[positive] = torch.randint(0, classes, (int(positive.sum()),), generator=g)
    # A target box around the anchor centre, its sides 0.5 to 1.2 n strides away (beyond n: clamped).
    centre = ((anchors[:, :2] + anchors[:, 2:]) / 2).expand(batch, -1, -1)
    sides = (torch.rand(batch, count, 4, generator=g) * 1.2 * reg_max + 0.5) * strides[:, None]
    bbox_targets = torch.cat([centre - sides[..., :2], centre + sides[..., 2:]], -1)
    label_weights = torch.ones(batch, count)
    cls_score = torch.randn(batch, count, classes, generator=g) * 2 - 4
    bbox_pred = torch.randn(batch, count, 4 * (reg_max + 1), generator=g)
    return (
        cls_score.to(device, dtype).requires_grad_(),
        bbox_pred.to(device, dtype).requires_grad_(),
        anchors.to(device, dtype),
        strides.to(device, dtype),
        labels.to(device),
        label_weights.to(device, dtype),
        bbox_targets.to(device, dtype),
    )


def _positives(cls_score, bbox_pred, anchors, strides, labels, bbox_targets):
    """The flattened positives, decoded as mmdet decodes them (stride units)."""
    batch, count, classes = cls_score.shape
    bins = bbox_pred.shape[-1] // 4
    cls = cls_score.reshape(-1, classes)
    labels = labels.reshape(-1)
    pos = ((labels >= 0) & (labels < classes)).nonzero().squeeze(1)
    anchor = pos % count
    stride = strides[anchor][:, None]
    centres = (anchors[anchor, :2] + anchors[anchor, 2:]) / 2 / stride
    pos_pred = bbox_pred.reshape(-1, 4 * bins)[pos]
    project = torch.linspace(0, bins - 1, bins, dtype=bbox_pred.dtype, device=bbox_pred.device)
    corners = F.linear(F.softmax(pos_pred.reshape(-1, bins), dim=1), project[None]).reshape(-1, 4)
    decoded = torch.cat([centres - corners[:, :2], centres + corners[:, 2:]], -1)
    targets = bbox_targets.reshape(-1, 4)[pos] / stride
    # bbox2distance: the target's sides from the centre, clamped to [0, n - 0.1].
    target_corners = torch.cat([centres - targets[:, :2], targets[:, 2:] - centres], -1).clamp(
        0, bins - 1 - 0.1
    )
    weight = cls.detach().sigmoid().max(dim=1)[0][pos]
    return cls, labels, pos, decoded, targets, pos_pred.reshape(-1, bins), target_corners.reshape(-1), weight


def _num_total_samples(labels, classes):
    per_image = ((labels >= 0) & (labels < classes)).sum(1).clamp(min=1)
    return per_image.sum().to(torch.float32).clamp(min=1)


# ---- mmdet's formulation --------------------------------------------------------------------------


def aligned_overlaps(b1, b2, mode: str, eps: float = 1e-6):
    """mmdet `bbox_overlaps(is_aligned=True)`: union and enclosing area floored at eps."""
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    wh = (torch.min(b1[:, 2:], b2[:, 2:]) - torch.max(b1[:, :2], b2[:, :2])).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    union = torch.max(area1 + area2 - overlap, union_eps := b1.new_tensor([eps]))
    ious = overlap / union
    if mode == "iou":
        return ious
    enclose_wh = (torch.max(b1[:, 2:], b2[:, 2:]) - torch.min(b1[:, :2], b2[:, :2])).clamp(min=0)
    enclose = torch.max(enclose_wh[:, 0] * enclose_wh[:, 1], union_eps)
    return ious - (enclose - union) / enclose


def quality_focal(pred, label, score, beta: float = QFL_BETA):
    """mmdet `quality_focal_loss`, per row (N,)."""
    sigmoid = pred.sigmoid()
    loss = F.binary_cross_entropy_with_logits(pred, torch.zeros_like(pred), reduction="none") * sigmoid.pow(
        beta
    )
    pos = ((label >= 0) & (label < pred.size(1))).nonzero().squeeze(1)
    pos_label = label[pos].long()
    scale = score[pos] - sigmoid[pos, pos_label]
    loss[pos, pos_label] = F.binary_cross_entropy_with_logits(
        pred[pos, pos_label], score[pos], reduction="none"
    ) * scale.abs().pow(beta)
    return loss.sum(dim=1)


def distribution_focal(pred, label):
    """mmdet `distribution_focal_loss`, per row (N,)."""
    left = label.long()
    right = left + 1
    w_left = right.float() - label
    w_right = label - left.float()
    return (
        F.cross_entropy(pred, left, reduction="none") * w_left
        + F.cross_entropy(pred, right, reduction="none") * w_right
    )


def framework_step(cls_score, bbox_pred, anchors, strides, labels, label_weights, bbox_targets):
    classes = cls_score.shape[-1]
    cls, flat_labels, pos, decoded, targets, pred_corners, target_corners, weight = _positives(
        cls_score, bbox_pred, anchors, strides, labels, bbox_targets
    )
    score = label_weights.new_zeros(flat_labels.shape)
    score[pos] = aligned_overlaps(decoded.detach(), targets, "iou")
    qfl = (quality_focal(cls, flat_labels, score) * label_weights.reshape(-1)).sum()
    qfl = qfl / (_num_total_samples(labels, classes) + EPS32)
    giou = (1 - aligned_overlaps(decoded, targets, "giou")) * weight
    box = GIOU_WEIGHT * giou.sum() / (1.0 + EPS32)
    dfl = distribution_focal(pred_corners, target_corners) * weight[:, None].expand(-1, 4).reshape(-1)
    dfl = DFL_WEIGHT * dfl.sum() / (4.0 + EPS32)
    avg_factor = weight.sum().clamp(min=1)
    return qfl + box / avg_factor + dfl / avg_factor


# ---- the lossext composition ----------------------------------------------------------------------
# One function per loss term, so that a fused op replaces its term in one line. quality_focal_loss
# is lossext's under the same name, composed of torch ops or fused.
NEWER_OPS = ("distribution_focal_loss",)


def _iou(decoded, targets):
    return 1 - lossext.box_iou_loss(decoded, targets, "iou")


def _qfl_term(pred, labels, score, label_weights, avg_factor):
    return lossext.quality_focal_loss(pred, (labels, score), label_weights, QFL_BETA, "mean", avg_factor)


def _giou_term(decoded, targets):
    return lossext.generalized_box_iou_loss(decoded, targets)


def _dfl_term(pred, label):
    if has("distribution_focal_loss"):
        return lossext.distribution_focal_loss(pred, label, reduction="none")
    left = label.long()
    w_right = label - left
    ce_left = lossext.cross_entropy(pred, left, reduction="none")
    ce_right = lossext.cross_entropy(pred, left + 1, reduction="none")
    return ce_left * (1 - w_right) + ce_right * w_right


def lossext_step(cls_score, bbox_pred, anchors, strides, labels, label_weights, bbox_targets):
    classes = cls_score.shape[-1]
    cls, flat_labels, pos, decoded, targets, pred_corners, target_corners, weight = _positives(
        cls_score, bbox_pred, anchors, strides, labels, bbox_targets
    )
    score = label_weights.new_zeros(flat_labels.shape)
    score[pos] = _iou(decoded.detach(), targets).to(score.dtype)
    qfl = _qfl_term(cls, flat_labels, score, label_weights.reshape(-1), _num_total_samples(labels, classes))
    box = GIOU_WEIGHT * (_giou_term(decoded, targets) * weight).sum() / (1.0 + EPS32)
    dfl = (
        DFL_WEIGHT
        * (_dfl_term(pred_corners, target_corners) * weight.repeat_interleave(4)).sum()
        / (4.0 + EPS32)
    )
    avg_factor = weight.sum().clamp(min=1)
    return qfl + box / avg_factor + dfl / avg_factor
