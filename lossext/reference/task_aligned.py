"""Task-aligned assignment (TOOD; ultralytics' ``TaskAlignedAssigner``, 8.4.x)
written from its formulas with torch ops, in ultralytics' own formulation:
dense (B, G, A) metric, overlap and mask tensors.

For image b, ground-truth box g (valid when mask_gt) and anchor point a:

1. a is a candidate of g when it lies strictly inside g (by more than 1e-9 on
   each side), g's sides first floored to ``min_box_side`` about its centre;
2. overlap(g, a) = max(CIoU(gt_g, pd_a), 0) (or IoU), the metric
   m(g, a) = score(a, label_g)^alpha * overlap^beta, both 0 off the candidates;
3. g keeps its top-k anchors by metric, taken over all A anchors, of which
   the candidates are g's positives. Ties: larger metric first, then lower
   anchor index (``torch.topk`` leaves the order of equal values open);
4. an anchor positive for several boxes goes to the box of largest overlap
   (over every box, the lowest box index on ties), even if it was not among
   that box's top-k;
5. target_scores(a) = one_hot(label) * m(g, a) * max_overlap(g) /
   (max_metric(g) + eps), the maxima over g's final positives; a background
   anchor gets box 0's label (clamped at 0) and box, and zero scores, as
   ultralytics.
"""

import torch

__all__ = ["task_aligned_assign"]

# select_candidates_in_gts's margin (a constant there, not the assigner's eps).
INSIDE_MARGIN = 1e-9
# bbox_iou's eps.
IOU_EPS = 1e-7


def _labels(gt_labels):
    labels = gt_labels.squeeze(-1) if gt_labels.dim() == 3 else gt_labels
    return labels.long()  # float labels truncated, as ultralytics' .long()


def _mask(mask_gt):
    mask = mask_gt.squeeze(-1) if mask_gt.dim() == 3 else mask_gt
    return mask.bool()


def _box_overlap(gt, pd, iou="ciou"):
    """ultralytics' bbox_iou(gt, pd, xywh=False, CIoU=True) clamped at 0 (or
    plain IoU), same operations in the same order; gt, pd (..., 4) xyxy."""
    g_x1, g_y1, g_x2, g_y2 = gt.unbind(-1)
    p_x1, p_y1, p_x2, p_y2 = pd.unbind(-1)
    w1, h1 = g_x2 - g_x1, g_y2 - g_y1 + IOU_EPS
    w2, h2 = p_x2 - p_x1, p_y2 - p_y1 + IOU_EPS
    inter = (torch.minimum(g_x2, p_x2) - torch.maximum(g_x1, p_x1)).clamp(min=0) * (
        torch.minimum(g_y2, p_y2) - torch.maximum(g_y1, p_y1)
    ).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + IOU_EPS
    overlap = inter / union
    if iou == "ciou":
        cw = torch.maximum(g_x2, p_x2) - torch.minimum(g_x1, p_x1)
        ch = torch.maximum(g_y2, p_y2) - torch.minimum(g_y1, p_y1)
        c2 = cw * cw + ch * ch + IOU_EPS
        dx = p_x1 + p_x2 - g_x1 - g_x2
        dy = p_y1 + p_y2 - g_y1 - g_y2
        rho2 = (dx * dx + dy * dy) / 4
        d = torch.atan(w2 / h2) - torch.atan(w1 / h1)
        v = (4 / torch.pi**2) * (d * d)
        alpha = v / (1 - overlap + v + IOU_EPS)
        overlap = overlap - (rho2 / c2 + v * alpha)
    return overlap.clamp(min=0)


def _candidates_in_boxes(anc_points, gt_bboxes, mask, min_box_side):
    """(B, G, A) bool: anchor strictly inside the box, whose sides below
    min_box_side (valid boxes only) are set to it about the centre."""
    centre = (gt_bboxes[..., :2] + gt_bboxes[..., 2:]) / 2
    wh = gt_bboxes[..., 2:] - gt_bboxes[..., :2]
    wh = torch.where((wh < min_box_side) & mask[..., None], torch.full_like(wh, min_box_side), wh)
    half = wh / 2
    lt, rb = (centre - half)[..., None, :], (centre + half)[..., None, :]
    x, y = anc_points[:, 0], anc_points[:, 1]
    return (
        (x - lt[..., 0] > INSIDE_MARGIN)
        & (y - lt[..., 1] > INSIDE_MARGIN)
        & (rb[..., 0] - x > INSIDE_MARGIN)
        & (rb[..., 1] - y > INSIDE_MARGIN)
    )


def _topk_lowest_index(metric, k):
    """Indices of the k largest values of each row of metric (>= 0), equal
    values in increasing index order: torch.topk on an int64 key made of the
    value's bits and the reversed index, which makes every key distinct."""
    n = metric.shape[-1]
    bits = metric.contiguous().view(torch.int32).long()
    reversed_index = (n - 1) - torch.arange(n, device=metric.device)
    return torch.topk((bits << 32) | reversed_index, k, dim=-1).indices


def task_aligned_assign(
    pd_scores,
    pd_bboxes,
    anc_points,
    gt_labels,
    gt_bboxes,
    mask_gt,
    topk=13,
    alpha=1.0,
    beta=6.0,
    eps=1e-9,
    iou="ciou",
    min_box_side=16.0,
):
    batch, anchors, classes = pd_scores.shape
    boxes = gt_bboxes.shape[1]
    device = pd_scores.device
    labels, mask = _labels(gt_labels), _mask(mask_gt)
    if boxes == 0:
        return (
            torch.full((batch, anchors), classes, dtype=torch.long, device=device),
            torch.zeros((batch, anchors, 4), dtype=gt_bboxes.dtype, device=device),
            torch.zeros_like(pd_scores),
            torch.zeros((batch, anchors), dtype=torch.bool, device=device),
            torch.zeros((batch, anchors), dtype=torch.long, device=device),
        )
    scores, pd, anc, gt = pd_scores.float(), pd_bboxes.float(), anc_points.float(), gt_bboxes.float()

    # 1-2. Candidates, and overlap and metric of each candidate pair.
    candidate = _candidates_in_boxes(anc, gt, mask, min_box_side) & mask[..., None]
    b_idx, g_idx, a_idx = candidate.nonzero(as_tuple=True)
    pair_overlap = _box_overlap(gt[b_idx, g_idx], pd[b_idx, a_idx], iou)
    pair_score = scores[b_idx, a_idx, labels[b_idx, g_idx]]
    overlaps = torch.zeros((batch, boxes, anchors), device=device)
    metric = torch.zeros((batch, boxes, anchors), device=device)
    overlaps[b_idx, g_idx, a_idx] = pair_overlap
    metric[b_idx, g_idx, a_idx] = pair_score.pow(alpha) * pair_overlap.pow(beta)

    # 3. Top-k of each box over every anchor; its candidates are positives.
    selected = torch.zeros((batch, boxes, anchors), dtype=torch.bool, device=device)
    selected.scatter_(-1, _topk_lowest_index(metric, topk), True)
    positive = selected & candidate

    # 4. An anchor positive for several boxes: the box of largest overlap.
    several = positive.sum(1, keepdim=True) > 1
    best = torch.zeros_like(positive).scatter_(1, overlaps.argmax(1, keepdim=True), True)
    positive = torch.where(several, best, positive)
    fg_mask, gt_idx = positive.to(torch.int8).max(1)
    fg_mask = fg_mask.bool()

    # 5. Targets, and the normalised metric as the score of the label.
    target_labels = labels.gather(1, gt_idx).clamp(min=0)
    target_bboxes = gt_bboxes.gather(1, gt_idx[..., None].expand(-1, -1, 4))
    metric = metric * positive
    overlaps = overlaps * positive
    max_metric = metric.amax(-1, keepdim=True)
    max_overlap = overlaps.amax(-1, keepdim=True)
    norm = (metric * max_overlap / (max_metric + eps)).amax(1)
    target_scores = torch.zeros((batch, anchors, classes), device=device)
    target_scores.scatter_(-1, target_labels[..., None], (norm * fg_mask)[..., None])
    return target_labels, target_bboxes, target_scores.to(pd_scores.dtype), fg_mask, gt_idx
