"""The Hungarian matcher's cost matrix at DINO's size: 8 images x 900 queries
x 91 classes against up to 100 targets per image, focal class cost with
DINO's weights (2, 5, 2). lossext's fused kernel against the matcher's own
formulation (Deformable DETR's HungarianMatcher: every query of the batch
against every target of the batch, then each image's block), eager and
compiled. The assignment itself (scipy, on the host) is not timed."""

import torch

import lossext
from benchmarks import harness

BATCH, QUERIES, CLASSES = 8, 900, 91
SIZES = [100, 37, 5, 80, 0, 64, 100, 12]  # targets per image


def _cxcywh_to_xyxy(x):
    cx, cy, w, h = x.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


def _giou(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = (torch.min(a[:, None, 2:], b[:, 2:]) - torch.max(a[:, None, :2], b[:, :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b - inter
    wh_c = (torch.max(a[:, None, 2:], b[:, 2:]) - torch.min(a[:, None, :2], b[:, :2])).clamp(min=0)
    area_c = wh_c[..., 0] * wh_c[..., 1]
    return inter / union - (area_c - union) / area_c


def matcher_cost(logits, boxes, tgt_ids, tgt_bbox, alpha=0.25, gamma=2.0):
    """Deformable DETR's HungarianMatcher cost (weights 2, 5, 2), per image."""
    bs, nq = logits.shape[:2]
    out_prob = logits.flatten(0, 1).sigmoid()
    out_bbox = boxes.flatten(0, 1)
    neg = (1 - alpha) * (out_prob**gamma) * (-(1 - out_prob + 1e-8).log())
    pos = alpha * ((1 - out_prob) ** gamma) * (-(out_prob + 1e-8).log())
    cost_class = pos[:, tgt_ids] - neg[:, tgt_ids]
    cost_bbox = torch.cdist(out_bbox, tgt_bbox, p=1)
    cost_giou = -_giou(_cxcywh_to_xyxy(out_bbox), _cxcywh_to_xyxy(tgt_bbox))
    c = (5.0 * cost_bbox + 2.0 * cost_class + 2.0 * cost_giou).view(bs, nq, -1)
    return [m[i] for i, m in enumerate(c.split(SIZES, -1))]


def make_inputs(device, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(BATCH, QUERIES, CLASSES, generator=g)
    boxes = torch.cat(
        [torch.rand(BATCH, QUERIES, 2, generator=g), torch.rand(BATCH, QUERIES, 2, generator=g) * 0.5 + 0.01],
        -1,
    )
    labels = [torch.randint(0, CLASSES, (n,), generator=g) for n in SIZES]
    tboxes = [
        torch.cat([torch.rand(n, 2, generator=g), torch.rand(n, 2, generator=g) * 0.5 + 0.01], -1)
        for n in SIZES
    ]
    return logits.to(device), boxes.to(device), [t.to(device) for t in labels], [t.to(device) for t in tboxes]


def lossext_cost(logits, boxes, labels, tboxes):
    return lossext.detr_matching_cost(logits, boxes, labels, tboxes, w_class=2.0, w_bbox=5.0, w_giou=2.0)


def cases(device: torch.device, full: bool):
    logits, boxes, labels, tboxes = make_inputs(device)
    tgt_ids, tgt_bbox = torch.cat(labels), torch.cat(tboxes)
    floor = (
        logits.nbytes + boxes.nbytes + 4 * QUERIES * sum(SIZES)
    )  # read the logits and boxes, write the costs
    yield harness.Case(
        "detection",
        "detr_matching_cost (focal)",
        f"{BATCH}x{QUERIES}x{CLASSES}, G<={max(SIZES)}",
        "float32",
        "fwd",
        floor,
        [
            harness.Impl("lossext", harness.forward(lossext_cost, logits, boxes, labels, tboxes)),
            harness.Impl("reference", harness.forward(matcher_cost, logits, boxes, tgt_ids, tgt_bbox)),
            harness.Impl(
                "reference+compile",
                harness.forward(harness.compiled(matcher_cost), logits, boxes, tgt_ids, tgt_bbox),
            ),
        ],
        baseline="reference",
    )
