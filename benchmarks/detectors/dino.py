"""The DINO / Deformable-DETR set-prediction loss step of one decoder layer: the Hungarian
matcher (`HungarianMatcher`: focal class cost, L1 and GIoU box costs, scipy's
linear_sum_assignment per image) and `SetCriterion`'s loss_labels (sigmoid focal over (B, Q, C)
against the one-hot matched classes, normalised by the number of boxes) and loss_boxes (L1 and
GIoU of the matched pairs). DINO repeats this step for every decoder layer and the encoder
output, and adds denoising queries; one layer is the unit that all of them repeat.

Inputs:
    pred_logits (B, Q, C)   class logits, grad
    pred_boxes  (B, Q, 4)   cxcywh in [0, 1], grad
    tgt_labels  (B, G)      int64 class of each image's boxes (padding after counts[b])
    tgt_boxes   (B, G, 4)   cxcywh in [0, 1]
    counts      (B,)        int64 real boxes per image (on the CPU: the list of sizes DETR has)

DINO's weights: matcher class 2, L1 5, GIoU 2; loss focal 1, L1 5, GIoU 2; focal alpha 0.25,
gamma 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

import lossext
from benchmarks.detectors import has

ALPHA, GAMMA = 0.25, 2.0
COST_CLASS, COST_BBOX, COST_GIOU = 2.0, 5.0, 2.0
LOSS_CE, LOSS_BBOX, LOSS_GIOU = 1.0, 5.0, 2.0
GRAD_ARGS = 2
SIZES = {
    "quick": dict(batch=8, queries=900, classes=91, max_boxes=100),  # cheap enough at full size
    "full": dict(batch=8, queries=900, classes=91, max_boxes=100),
}


def shape(size: dict) -> str:
    """batch x queries x classes."""
    return f"{size['batch']}x{size['queries']}x{size['classes']}"


def make_inputs(size: dict, device, dtype=torch.float32, seed: int = 0):
    batch, queries, classes, max_boxes = size["batch"], size["queries"], size["classes"], size["max_boxes"]
    g = torch.Generator(device="cpu").manual_seed(seed)
    counts = torch.randint(1, max_boxes + 1, (batch,), generator=g)
    boxes = int(counts.max())
    tgt_labels = torch.randint(0, classes, (batch, boxes), generator=g)
    tgt_boxes = torch.cat(
        [
            torch.rand(batch, boxes, 2, generator=g) * 0.8 + 0.1,
            torch.rand(batch, boxes, 2, generator=g) * 0.3 + 0.02,
        ],
        -1,
    )
    pred_logits = torch.randn(batch, queries, classes, generator=g) * 2 - 4
    pred_boxes = torch.randn(batch, queries, 4, generator=g).sigmoid()
    return (
        pred_logits.to(device, dtype).requires_grad_(),
        pred_boxes.to(device, dtype).requires_grad_(),
        tgt_labels.to(device),
        tgt_boxes.to(device, dtype),
        counts,
    )


def targets_list(tgt_labels, tgt_boxes, counts):
    """DETR's targets: one dict per image."""
    return [{"labels": tgt_labels[b, :n], "boxes": tgt_boxes[b, :n]} for b, n in enumerate(counts.tolist())]


def assign(costs):
    """scipy's linear_sum_assignment of each image's (Q, G_b) cost on the CPU, as DETR's indices."""
    return [tuple(torch.as_tensor(x, dtype=torch.int64) for x in linear_sum_assignment(c)) for c in costs]


def _matched(indices, pred_logits, targets):
    batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for src, _ in indices])
    classes = torch.cat([t["labels"][j] for t, (_, j) in zip(targets, indices)])
    boxes = torch.cat([t["boxes"][j] for t, (_, j) in zip(targets, indices)])
    device = pred_logits.device
    return (batch_idx.to(device), src_idx.to(device)), classes, boxes


# ---- DINO's / Deformable DETR's formulation ------------------------------------------------------


def cxcywh_to_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


def pairwise_giou(b1, b2):
    """DETR util/box_ops.generalized_box_iou: every box of b1 against every box of b2, no eps."""
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    wh = (torch.min(b1[:, None, 2:], b2[:, 2:]) - torch.max(b1[:, None, :2], b2[:, :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2 - inter
    iou = inter / union
    wh = (torch.max(b1[:, None, 2:], b2[:, 2:]) - torch.min(b1[:, None, :2], b2[:, :2])).clamp(min=0)
    area = wh[..., 0] * wh[..., 1]
    return iou - (area - union) / area


@torch.no_grad()
def hungarian_matcher(pred_logits, pred_boxes, targets):
    """Deformable DETR's HungarianMatcher.forward (the focal class cost): one cost over every
    query of the batch against every box of the batch, split per image for the assignment."""
    bs, num_queries = pred_logits.shape[:2]
    out_prob = pred_logits.flatten(0, 1).sigmoid()
    out_bbox = pred_boxes.flatten(0, 1)
    tgt_ids = torch.cat([v["labels"] for v in targets])
    tgt_bbox = torch.cat([v["boxes"] for v in targets])
    neg_cost_class = (1 - ALPHA) * (out_prob**GAMMA) * (-(1 - out_prob + 1e-8).log())
    pos_cost_class = ALPHA * ((1 - out_prob) ** GAMMA) * (-(out_prob + 1e-8).log())
    cost_class = pos_cost_class[:, tgt_ids] - neg_cost_class[:, tgt_ids]
    cost_bbox = torch.cdist(out_bbox, tgt_bbox, p=1)
    cost_giou = -pairwise_giou(cxcywh_to_xyxy(out_bbox), cxcywh_to_xyxy(tgt_bbox))
    cost = COST_BBOX * cost_bbox + COST_CLASS * cost_class + COST_GIOU * cost_giou
    cost = cost.view(bs, num_queries, -1).cpu()
    sizes = [len(v["boxes"]) for v in targets]
    return assign(c[i] for i, c in enumerate(cost.split(sizes, -1)))


def sigmoid_focal_loss(inputs, targets, num_boxes, alpha: float = ALPHA, gamma: float = GAMMA):
    """Deformable DETR's models/segmentation.sigmoid_focal_loss: the mean over queries, summed, / num_boxes."""
    prob = inputs.sigmoid()
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    loss = alpha_t * loss
    return loss.mean(1).sum() / num_boxes


def framework_step(pred_logits, pred_boxes, tgt_labels, tgt_boxes, counts):
    targets = targets_list(tgt_labels, tgt_boxes, counts)
    indices = hungarian_matcher(pred_logits, pred_boxes, targets)
    num_boxes = torch.as_tensor([float(sum(len(t["labels"]) for t in targets))], device=pred_logits.device)
    num_boxes = torch.clamp(num_boxes, min=1).item()
    idx, classes_o, target_boxes = _matched(indices, pred_logits, targets)
    num_classes = pred_logits.shape[2]
    target_classes = torch.full(
        pred_logits.shape[:2], num_classes, dtype=torch.int64, device=pred_logits.device
    )
    target_classes[idx] = classes_o
    onehot = torch.zeros(
        [*pred_logits.shape[:2], num_classes + 1], dtype=pred_logits.dtype, device=pred_logits.device
    )
    onehot.scatter_(2, target_classes.unsqueeze(-1), 1)
    onehot = onehot[:, :, :-1]
    loss_ce = sigmoid_focal_loss(pred_logits, onehot, num_boxes) * pred_logits.shape[1]
    src_boxes = pred_boxes[idx]
    loss_bbox = F.l1_loss(src_boxes, target_boxes, reduction="none").sum() / num_boxes
    giou = torch.diag(pairwise_giou(cxcywh_to_xyxy(src_boxes), cxcywh_to_xyxy(target_boxes)))
    loss_giou = (1 - giou).sum() / num_boxes
    return LOSS_CE * loss_ce + LOSS_BBOX * loss_bbox + LOSS_GIOU * loss_giou


# ---- the lossext composition ----------------------------------------------------------------------
# One function per piece, so that a fused op replaces its piece in one line.
NEWER_OPS = ("detr_matching_cost",)


@torch.no_grad()
def _matching_costs(pred_logits, pred_boxes, targets):
    """Each image's (Q, G_b) cost, its queries against its own boxes only."""
    if has("detr_matching_cost"):
        costs = lossext.detr_matching_cost(
            pred_logits, pred_boxes, [t["labels"] for t in targets], [t["boxes"] for t in targets],
            w_class=COST_CLASS, w_bbox=COST_BBOX, w_giou=COST_GIOU,
        )  # fmt: skip
        return [c.cpu() for c in costs]
    costs = []
    for b, t in enumerate(targets):
        prob = pred_logits[b].sigmoid()[:, t["labels"]]
        neg = (1 - ALPHA) * prob**GAMMA * -(1 - prob + 1e-8).log()
        pos = ALPHA * (1 - prob) ** GAMMA * -(prob + 1e-8).log()
        l1 = torch.cdist(pred_boxes[b], t["boxes"], p=1)
        giou = lossext.generalized_box_iou(pred_boxes[b], t["boxes"], fmt="cxcywh")
        costs.append((COST_CLASS * (pos - neg) + COST_BBOX * l1 - COST_GIOU * giou).cpu())
    return costs


def _class_term(pred_logits, target_classes, num_boxes):
    return lossext.sigmoid_focal_loss(pred_logits, target_classes, ALPHA, GAMMA, "sum", normalizer=num_boxes)


def _l1_term(src, target):
    return lossext.l1_loss(src, target, reduction="sum")


def _giou_term(src, target):
    # DETR's GIoU has no eps (its boxes never degenerate): eps 0 gives the same values.
    return lossext.generalized_box_iou_loss(src, target, reduction="sum", eps=0.0, fmt="cxcywh")


def lossext_step(pred_logits, pred_boxes, tgt_labels, tgt_boxes, counts):
    targets = targets_list(tgt_labels, tgt_boxes, counts)
    indices = assign(_matching_costs(pred_logits, pred_boxes, targets))
    num_boxes = max(float(counts.sum()), 1.0)
    idx, classes_o, target_boxes = _matched(indices, pred_logits, targets)
    # Index targets: -1 (no object) for the unmatched queries, no one-hot.
    target_classes = torch.full(pred_logits.shape[:2], -1, dtype=torch.int64, device=pred_logits.device)
    target_classes[idx] = classes_o
    loss_ce = _class_term(pred_logits, target_classes, num_boxes)
    src_boxes = pred_boxes[idx]
    loss_bbox = _l1_term(src_boxes, target_boxes) / num_boxes
    loss_giou = _giou_term(src_boxes, target_boxes) / num_boxes
    return LOSS_CE * loss_ce + LOSS_BBOX * loss_bbox + LOSS_GIOU * loss_giou
