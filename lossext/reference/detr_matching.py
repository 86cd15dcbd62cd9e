"""The matching cost of DETR's / Deformable DETR's HungarianMatcher from its
formula, per image (Q queries, G_i targets):

    cost = w_bbox * cdist(boxes, target_boxes, p=1)          (cxcywh)
         + w_class * class_cost
         + w_giou * -generalized_box_iou(xyxy(boxes), xyxy(target_boxes))

class_cost 'softmax' (DETR): -softmax(logits)[:, labels]; 'focal'
(Deformable DETR, DINO), with p = sigmoid(logits)[:, labels]:
alpha (1-p)^gamma (-log(p + 1e-8)) - (1-alpha) p^gamma (-log(1-p + 1e-8)),
1 - p taken as sigmoid(-logits) (Deformable DETR subtracts, which in float32
loses digits of log(1 - p + 1e-8) for confident logits).
The assignment is scipy.optimize.linear_sum_assignment of each image's cost.
"""

import torch

from lossext.reference.box import generalized_box_iou, to_xyxy


def _per_image_targets(target_labels, target_boxes, target_mask, num_targets):
    """[(labels_i, boxes_i)] from lists, or from padded tensors with a mask or counts."""
    if isinstance(target_labels, (list, tuple)):
        return list(zip(target_labels, target_boxes))
    if target_mask is None:
        g = target_labels.shape[1]
        counts = torch.as_tensor(num_targets, device=target_labels.device)
        target_mask = torch.arange(g, device=target_labels.device) < counts.reshape(-1, 1)
    return [
        (target_labels[b][target_mask[b]], target_boxes[b][target_mask[b]]) for b in range(len(target_labels))
    ]


def _image_cost(logits, boxes, labels, tboxes, class_cost, alpha, gamma, w_class, w_bbox, w_giou):
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    x, out_bbox, tgt_bbox = logits.to(dtype), boxes.to(dtype), tboxes.to(dtype)
    if class_cost == "softmax":
        cls = -x.softmax(-1)[:, labels]
    else:
        # 1 - p as sigmoid(-x): the same value without float32's cancellation.
        prob, one_minus = x.sigmoid(), (-x).sigmoid()
        neg = (1 - alpha) * (prob**gamma) * (-(one_minus + 1e-8).log())
        pos = alpha * (one_minus**gamma) * (-(prob + 1e-8).log())
        cls = pos[:, labels] - neg[:, labels]
    l1 = torch.cdist(out_bbox, tgt_bbox, p=1)
    giou = -generalized_box_iou(to_xyxy(out_bbox, "cxcywh"), to_xyxy(tgt_bbox, "cxcywh"))
    return w_bbox * l1 + w_class * cls + w_giou * giou


def detr_matching_cost(
    logits,
    boxes,
    target_labels,
    target_boxes,
    target_mask=None,
    num_targets=None,
    class_cost="focal",
    alpha=0.25,
    gamma=2.0,
    w_class=1.0,
    w_bbox=1.0,
    w_giou=1.0,
):
    with torch.no_grad():
        per_image = [
            _image_cost(logits[b], boxes[b], labels, tb, class_cost, alpha, gamma, w_class, w_bbox, w_giou)
            for b, (labels, tb) in enumerate(
                _per_image_targets(target_labels, target_boxes, target_mask, num_targets)
            )
        ]
    if isinstance(target_labels, (list, tuple)):
        return per_image
    # Padded targets: a (B, Q, G) tensor, 0 in the padded columns.
    b, q, g = logits.shape[0], logits.shape[1], target_labels.shape[1]
    out = torch.zeros(b, q, g, dtype=per_image[0].dtype if per_image else torch.float32, device=logits.device)
    mask = target_mask
    if mask is None:
        mask = torch.arange(g, device=logits.device) < torch.as_tensor(
            num_targets, device=logits.device
        ).reshape(-1, 1)
    for i, c in enumerate(per_image):
        out[i][:, mask[i]] = c
    return out


def hungarian_match(
    logits,
    boxes,
    target_labels,
    target_boxes,
    target_mask=None,
    num_targets=None,
    class_cost="focal",
    alpha=0.25,
    gamma=2.0,
    w_class=1.0,
    w_bbox=1.0,
    w_giou=1.0,
):
    from scipy.optimize import linear_sum_assignment

    indices = []
    with torch.no_grad():
        for b, (labels, tb) in enumerate(
            _per_image_targets(target_labels, target_boxes, target_mask, num_targets)
        ):
            c = _image_cost(
                logits[b], boxes[b], labels, tb, class_cost, alpha, gamma, w_class, w_bbox, w_giou
            )
            i, j = linear_sum_assignment(c.cpu())
            indices.append((torch.as_tensor(i, dtype=torch.int64), torch.as_tensor(j, dtype=torch.int64)))
    return indices
