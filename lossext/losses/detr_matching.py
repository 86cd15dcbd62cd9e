"""The matching cost of DETR's Hungarian matcher on a fused kernel: one pass
computes every (query, target) entry of every image, class cost, L1 and GIoU
together, from the logits and boxes in place (no (B*Q, C) probability matrix,
no (B*Q, sum G) cross-image matrix). No gradient: the matcher runs under
no_grad."""

import numbers

import torch

from lossext import _ext, reference
from lossext._cpp import MatchClassCost, code, names
from lossext._errors import ArgumentError
from lossext._ops._common import accumulate_dtype
from lossext._ops._spec import OpSpec
from lossext._validate import check_floating, check_same_device, check_tensor


# The op: fake kernel and samples (registered by lossext._ops from SPECS); no autograd.


def _fake(
    logits, boxes, target_labels, target_boxes, target_mask, class_cost, alpha, gamma, w_class, w_bbox, w_giou
):
    b, q, _ = logits.shape
    return logits.new_empty((b, q, target_labels.shape[1]), dtype=accumulate_dtype(logits.dtype))


def _inputs(device, b=2, q=5, c=7, g=4):
    logits = torch.randn(b, q, c, device=device)
    boxes = torch.rand(b, q, 4, device=device) * 0.5 + 0.1
    labels = torch.randint(0, c, (b, g), device=device)
    tboxes = torch.rand(b, g, 4, device=device) * 0.5 + 0.1
    mask = torch.arange(g, device=device) < torch.tensor([g, g - 2], device=device).reshape(-1, 1)
    return logits, boxes, labels, tboxes, mask


def _samples(device):
    args = _inputs(device)
    return [(*args, kind, 0.25, 2.0, 2.0, 5.0, 2.0) for kind in (0, 1)]


def _public(device):
    def step(logits, boxes, labels, tboxes, mask):
        return detr_matching_cost(logits, boxes, labels, tboxes, mask, class_cost="softmax", w_bbox=5.0)

    return step, _inputs(device)


SPECS = (OpSpec("detr_matching_cost", _fake, _samples, public=_public),)


# The public functions (exported by lossext.functional and lossext).

CLASS_COSTS = names(MatchClassCost)  # ("focal", "softmax")


def _check_real(value, name):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (abs(value) < float("inf")):
        raise ArgumentError(f"{name} must be finite, got {value}")


def _padded_targets(logits, target_labels, target_boxes, target_mask, num_targets):
    """(labels (B, G), boxes (B, G, 4), mask (B, G), per-image counts or None)."""
    b = logits.shape[0]
    if isinstance(target_labels, (list, tuple)) or isinstance(target_boxes, (list, tuple)):
        if not isinstance(target_labels, (list, tuple)) or not isinstance(target_boxes, (list, tuple)):
            raise TypeError("target_labels and target_boxes must both be lists or both be tensors")
        if target_mask is not None or num_targets is not None:
            raise ArgumentError("target_mask and num_targets apply to padded targets only, not to lists")
        if len(target_labels) != b or len(target_boxes) != b:
            raise ArgumentError(
                f"target_labels and target_boxes must hold one tensor per image ({b}), "
                f"got {len(target_labels)} and {len(target_boxes)}"
            )
        counts = []
        for i, (lab, box) in enumerate(zip(target_labels, target_boxes)):
            check_tensor(lab, f"target_labels[{i}]")
            check_tensor(box, f"target_boxes[{i}]")
            if lab.dim() != 1 or lab.dtype != torch.int64:
                raise ArgumentError(
                    f"target_labels[{i}] must be a 1-D int64 tensor, got {lab.dtype} {tuple(lab.shape)}"
                )
            if box.shape != (lab.shape[0], 4) or not box.is_floating_point():
                raise ArgumentError(
                    f"target_boxes[{i}] must be a floating ({lab.shape[0]}, 4) tensor, got {box.dtype} {tuple(box.shape)}"
                )
            check_same_device(lab, f"target_labels[{i}]", logits, "logits")
            check_same_device(box, f"target_boxes[{i}]", logits, "logits")
            counts.append(lab.shape[0])
        g = max(counts, default=0)
        labels = logits.new_zeros((b, g), dtype=torch.int64)
        boxes = logits.new_zeros(
            (b, g, 4), dtype=torch.float64 if logits.dtype == torch.float64 else torch.float32
        )
        mask = torch.zeros((b, g), dtype=torch.bool, device=logits.device)
        for i, (lab, box) in enumerate(zip(target_labels, target_boxes)):
            labels[i, : counts[i]] = lab
            boxes[i, : counts[i]] = box
            mask[i, : counts[i]] = True
        return labels, boxes, mask, counts
    check_tensor(target_labels, "target_labels")
    check_floating(target_boxes, "target_boxes")
    if target_labels.dim() != 2 or target_labels.shape[0] != b or target_labels.dtype != torch.int64:
        raise ArgumentError(
            f"target_labels must be an int64 (B, G) tensor with B = {b}, got {target_labels.dtype} "
            f"{tuple(target_labels.shape)}"
        )
    g = target_labels.shape[1]
    if target_boxes.shape != (b, g, 4):
        raise ArgumentError(f"target_boxes must have shape ({b}, {g}, 4), got {tuple(target_boxes.shape)}")
    check_same_device(target_labels, "target_labels", logits, "logits")
    check_same_device(target_boxes, "target_boxes", logits, "logits")
    if (target_mask is None) == (num_targets is None):
        raise ArgumentError("padded targets need exactly one of target_mask (B, G) and num_targets (B,)")
    if target_mask is not None:
        check_tensor(target_mask, "target_mask")
        if target_mask.shape != (b, g) or target_mask.dtype != torch.bool:
            raise ArgumentError(
                f"target_mask must be a bool ({b}, {g}) tensor, got {target_mask.dtype} {tuple(target_mask.shape)}"
            )
        check_same_device(target_mask, "target_mask", logits, "logits")
        return target_labels, target_boxes, target_mask, None
    if isinstance(num_targets, torch.Tensor):
        if num_targets.shape != (b,) or num_targets.is_floating_point() or num_targets.dtype == torch.bool:
            raise ArgumentError(
                f"num_targets must be an integer ({b},) tensor, got {num_targets.dtype} {tuple(num_targets.shape)}"
            )
        check_same_device(num_targets, "num_targets", logits, "logits")
        counts = num_targets
    else:
        if len(num_targets) != b or not all(
            isinstance(n, numbers.Integral) and 0 <= n <= g for n in num_targets
        ):
            raise ArgumentError(f"num_targets must hold {b} integers in [0, {g}], got {list(num_targets)}")
        counts = torch.tensor(list(num_targets), device=logits.device)
    mask = torch.arange(g, device=logits.device) < counts.reshape(-1, 1)
    return target_labels, target_boxes, mask, None


def detr_matching_cost(
    logits,
    boxes,
    target_labels,
    target_boxes,
    target_mask=None,
    num_targets=None,
    class_cost: str = "focal",
    alpha: float = 0.25,
    gamma: float = 2.0,
    w_class: float = 1.0,
    w_bbox: float = 1.0,
    w_giou: float = 1.0,
):
    """The cost matrix of DETR's ``HungarianMatcher`` (facebookresearch/detr)
    and Deformable DETR's / DINO's, per image:

        w_bbox * L1(boxes, target_boxes) + w_class * class_cost + w_giou * -GIoU

    L1 over the cxcywh values (``torch.cdist(p=1)``), GIoU of the xyxy
    corners without eps (torchvision's; a pair of zero-area boxes is nan, as
    there). ``class_cost='softmax'`` (DETR): ``-softmax(logits)[q, label]``;
    ``'focal'`` (Deformable DETR, DINO), with p = sigmoid(logit of the label):
    ``alpha (1-p)^gamma (-log(p + 1e-8)) - (1-alpha) p^gamma (-log(1-p + 1e-8))``,
    with 1 - p computed as sigmoid(-logit): equal to Deformable DETR's in
    float64; in float32 more accurate than its ``1 - p`` for confident logits
    (|logit| > ~8), where the subtraction cancels.

    Args:
        logits: (B, Q, C) class logits; boxes: (B, Q, 4) predicted cxcywh boxes.
        target_labels, target_boxes: either lists of B tensors, (G_i,) int64
            and (G_i, 4) cxcywh, or padded tensors (B, G) int64 and (B, G, 4)
            with exactly one of ``target_mask`` (B, G) bool (True for a real
            target) or ``num_targets`` (B,) (a list of ints or an integer
            tensor; the first num_targets[b] targets of image b are real).
        class_cost: 'focal' | 'softmax'. alpha, gamma: the focal cost's.
        w_class, w_bbox, w_giou: the weights (DETR's cost_class, cost_bbox, cost_giou).

    Returns, for lists, a list of B (Q, G_i) tensors; for padded targets one
    (B, Q, G) tensor with 0 in the padded columns (no device sync either
    way). float32 (float64 for float64 logits). A label outside [0, C) of a
    real target raises an IndexError on the CPU; on CUDA (no device sync) its
    column is nan instead.
    """
    check_floating(logits, "logits")
    check_floating(boxes, "boxes")
    if logits.dim() != 3 or logits.shape[2] < 1:
        raise ArgumentError(f"logits must have shape (B, Q, C) with C >= 1, got {tuple(logits.shape)}")
    if boxes.shape != (*logits.shape[:2], 4):
        raise ArgumentError(
            f"boxes must have shape ({logits.shape[0]}, {logits.shape[1]}, 4), got {tuple(boxes.shape)}"
        )
    check_same_device(boxes, "boxes", logits, "logits")
    if class_cost not in CLASS_COSTS:
        raise ArgumentError(f"class_cost must be one of {CLASS_COSTS}, got {class_cost!r}")
    for name, value in (
        ("alpha", alpha),
        ("gamma", gamma),
        ("w_class", w_class),
        ("w_bbox", w_bbox),
        ("w_giou", w_giou),
    ):
        _check_real(value, name)
    if gamma < 0:
        raise ArgumentError(f"gamma must be >= 0, got {gamma}")
    labels, tboxes, mask, counts = _padded_targets(
        logits, target_labels, target_boxes, target_mask, num_targets
    )
    if not _ext.has_kernels(logits.device):
        _ext.warn_fallback("detr_matching_cost", logits.device)
        return reference.detr_matching_cost(
            logits,
            boxes,
            target_labels,
            target_boxes,
            target_mask,
            num_targets,
            class_cost,
            alpha,
            gamma,
            w_class,
            w_bbox,
            w_giou,
        )
    with torch.no_grad():
        cost = torch.ops.lossext.detr_matching_cost(
            logits,
            boxes,
            labels,
            tboxes,
            mask,
            int(code(MatchClassCost, class_cost)),
            float(alpha),
            float(gamma),
            float(w_class),
            float(w_bbox),
            float(w_giou),
        )
    if counts is None:
        return cost
    return [cost[i, :, :n] for i, n in enumerate(counts)]


def hungarian_match(
    logits,
    boxes,
    target_labels,
    target_boxes,
    target_mask=None,
    num_targets=None,
    class_cost: str = "focal",
    alpha: float = 0.25,
    gamma: float = 2.0,
    w_class: float = 1.0,
    w_bbox: float = 1.0,
    w_giou: float = 1.0,
):
    """DETR's ``HungarianMatcher.forward``: the cost of
    :func:`detr_matching_cost` (same arguments), then
    ``scipy.optimize.linear_sum_assignment`` per image. Returns a list of B
    ``(index_i, index_j)`` int64 CPU tensors of length min(Q, G_i): the
    selected queries (ascending) and the targets they are assigned, indexing
    the image's real targets in order (for a mask, its True positions). The
    cost matrix is copied to the host once (one sync). scipy is required."""
    from scipy.optimize import linear_sum_assignment

    cost = detr_matching_cost(
        logits,
        boxes,
        target_labels,
        target_boxes,
        target_mask,
        num_targets,
        class_cost,
        alpha,
        gamma,
        w_class,
        w_bbox,
        w_giou,
    )
    if isinstance(cost, list):
        per_image = [c.cpu() for c in cost]
    else:
        cost = cost.cpu()
        if target_mask is None:
            counts = num_targets.tolist() if isinstance(num_targets, torch.Tensor) else list(num_targets)
            per_image = [cost[i, :, :n] for i, n in enumerate(counts)]
        else:
            mask = target_mask.cpu()
            per_image = [cost[i][:, mask[i]] for i in range(cost.shape[0])]
    indices = []
    for c in per_image:
        i, j = linear_sum_assignment(c.numpy())
        indices.append((torch.as_tensor(i, dtype=torch.int64), torch.as_tensor(j, dtype=torch.int64)))
    return indices
