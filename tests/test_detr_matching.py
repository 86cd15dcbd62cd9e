import pytest
import torch
from scipy.optimize import linear_sum_assignment

import lossext
from tests.conftest import tolerances


def _box_cxcywh_to_xyxy(x):
    x_c, y_c, w, h = x.unbind(-1)
    return torch.stack([(x_c - 0.5 * w), (y_c - 0.5 * h), (x_c + 0.5 * w), (y_c + 0.5 * h)], dim=-1)


def _generalized_box_iou(boxes1, boxes2):
    """DETR's util/box_ops.generalized_box_iou written out (without its assert)."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    iou = inter / union
    lt = torch.min(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    area = wh[:, :, 0] * wh[:, :, 1]
    return iou - (area - union) / area


def _matcher_cost(logits, boxes, targets, focal, cost_class, cost_bbox, cost_giou, alpha=0.25, gamma=2.0):
    """HungarianMatcher.forward of DETR (softmax) and Deformable DETR (focal)
    written out: every query of the batch against every target of the batch,
    then each image's block. Returns the per-image (Q, G_i) blocks."""
    bs, num_queries = logits.shape[:2]
    if focal:
        out_prob = logits.flatten(0, 1).sigmoid()
    else:
        out_prob = logits.flatten(0, 1).softmax(-1)
    out_bbox = boxes.flatten(0, 1)
    tgt_ids = torch.cat([v["labels"] for v in targets])
    tgt_bbox = torch.cat([v["boxes"] for v in targets])
    if focal:
        neg_cost_class = (1 - alpha) * (out_prob**gamma) * (-(1 - out_prob + 1e-8).log())
        pos_cost_class = alpha * ((1 - out_prob) ** gamma) * (-(out_prob + 1e-8).log())
        class_cost = pos_cost_class[:, tgt_ids] - neg_cost_class[:, tgt_ids]
    else:
        class_cost = -out_prob[:, tgt_ids]
    bbox_cost = torch.cdist(out_bbox, tgt_bbox, p=1)
    giou_cost = -_generalized_box_iou(_box_cxcywh_to_xyxy(out_bbox), _box_cxcywh_to_xyxy(tgt_bbox))
    C = cost_bbox * bbox_cost + cost_class * class_cost + cost_giou * giou_cost
    C = C.view(bs, num_queries, -1)
    sizes = [len(v["boxes"]) for v in targets]
    return [c[i] for i, c in enumerate(C.split(sizes, -1))]


def _problem(b, q, c, sizes, device, dtype=torch.float32, degenerate=False):
    logits = (torch.randn(b, q, c, dtype=torch.float64) * 3).to(dtype).to(device)
    boxes = torch.cat([torch.rand(b, q, 2), torch.rand(b, q, 2) * 0.5 + 0.01], -1).to(device)
    labels = [torch.randint(0, c, (n,), device=device) for n in sizes]
    tboxes = [torch.cat([torch.rand(n, 2), torch.rand(n, 2) * 0.5 + 0.01], -1).to(device) for n in sizes]
    if degenerate:
        # Zero-width and zero-height boxes, and a target equal to a query.
        boxes[0, :3, 2] = 0
        boxes[0, 3:5, 3] = 0
        for t in tboxes:
            if len(t):
                t[0, 2] = 0
                t[-1] = boxes[-1, -1]
    if dtype == torch.float64:
        boxes = boxes.double()
        tboxes = [t.double() for t in tboxes]
    return logits, boxes, labels, tboxes


def _padded(labels, tboxes, device):
    g = max([len(t) for t in labels], default=0)
    b = len(labels)
    pl = torch.full((b, g), -7, dtype=torch.int64, device=device)  # padding: an invalid label, never read
    pb = torch.full((b, g, 4), float("nan"), dtype=tboxes[0].dtype, device=device)
    for i, (lab, box) in enumerate(zip(labels, tboxes)):
        pl[i, : len(lab)] = lab
        pb[i, : len(lab)] = box
    return pl, pb, [len(t) for t in labels]


CONFIGS = [
    # (B, Q, C, sizes)
    (2, 10, 7, [3, 5]),
    (3, 33, 91, [0, 40, 1]),
    (1, 900, 91, [100]),
    (2, 300, 91, [37, 0]),
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("class_cost", ["focal", "softmax"])
def test_matches_detr_matcher(config, class_cost, device):
    b, q, c, sizes = config
    logits, boxes, labels, tboxes = _problem(b, q, c, sizes, device, torch.float64, degenerate=True)
    weights = dict(w_class=2.0, w_bbox=5.0, w_giou=2.0)
    targets = [{"labels": lab, "boxes": box} for lab, box in zip(labels, tboxes)]
    want = _matcher_cost(logits, boxes, targets, class_cost == "focal", 2.0, 5.0, 2.0)
    got = lossext.detr_matching_cost(logits, boxes, labels, tboxes, class_cost=class_cost, **weights)
    assert len(got) == b
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == torch.float64
        torch.testing.assert_close(g, w, equal_nan=True, **tolerances(torch.float64))
    # Padded targets, with counts (list and tensor) or a mask: a (B, Q, G) tensor, 0 in the padding.
    pl, pb, counts = _padded(labels, tboxes, device)
    for kwargs in (
        dict(num_targets=counts),
        dict(num_targets=torch.tensor(counts, device=device)),
        dict(
            target_mask=torch.arange(pl.shape[1], device=device)
            < torch.tensor(counts, device=device)[:, None]
        ),
    ):
        padded = lossext.detr_matching_cost(logits, boxes, pl, pb, class_cost=class_cost, **weights, **kwargs)
        assert padded.shape == (b, q, pl.shape[1])
        for i, n in enumerate(counts):
            torch.testing.assert_close(padded[i, :, :n], want[i], equal_nan=True, **tolerances(torch.float64))
            assert (padded[i, :, n:] == 0).all()


@pytest.mark.parametrize("class_cost", ["focal", "softmax"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_low_precision_logits(class_cost, dtype, device):
    logits, boxes, labels, tboxes = _problem(2, 64, 91, [20, 7], device, dtype)
    targets = [{"labels": lab, "boxes": box} for lab, box in zip(labels, tboxes)]
    want = _matcher_cost(
        logits.double(),
        boxes.double(),
        [{"labels": t["labels"], "boxes": t["boxes"].double()} for t in targets],
        class_cost == "focal",
        1.0,
        5.0,
        2.0,
    )
    got = lossext.detr_matching_cost(
        logits, boxes, labels, tboxes, class_cost=class_cost, w_bbox=5.0, w_giou=2.0
    )
    for g, w in zip(got, want):
        assert g.dtype == torch.float32
        # The logits are exact in both; the rest is float32 arithmetic (with
        # 1 - p as sigmoid(-x), so confident logits keep their digits).
        torch.testing.assert_close(g.double(), w, rtol=1e-5, atol=1e-5)


def test_focal_options_and_mask_with_holes(device):
    logits, boxes, labels, tboxes = _problem(2, 20, 5, [6, 6], device, torch.float64)
    targets = [{"labels": lab, "boxes": box} for lab, box in zip(labels, tboxes)]
    pl, pb, _ = _padded(labels, tboxes, device)
    mask = torch.tensor([[1, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 1]], dtype=torch.bool, device=device)
    pl[~mask] = 99  # out of range but masked out: never read
    out = lossext.detr_matching_cost(logits, boxes, pl, pb, mask, alpha=0.6, gamma=1.5, w_class=3.0)
    want = _matcher_cost(logits, boxes, targets, True, 3.0, 1.0, 1.0, alpha=0.6, gamma=1.5)
    for i in range(2):
        torch.testing.assert_close(out[i][:, mask[i]], want[i][:, mask[i]], **tolerances(torch.float64))
        assert (out[i][:, ~mask[i]] == 0).all()


def test_hungarian_match_equals_detr(device):
    logits, boxes, labels, tboxes = _problem(3, 50, 91, [10, 0, 50], device)
    targets = [{"labels": lab, "boxes": box} for lab, box in zip(labels, tboxes)]
    for class_cost in ("focal", "softmax"):
        want_cost = _matcher_cost(logits, boxes, targets, class_cost == "focal", 2.0, 5.0, 2.0)
        want = [linear_sum_assignment(c.cpu()) for c in want_cost]
        got = lossext.hungarian_match(
            logits, boxes, labels, tboxes, class_cost=class_cost, w_class=2.0, w_bbox=5.0, w_giou=2.0
        )
        pl, pb, counts = _padded(labels, tboxes, device)
        got_padded = lossext.hungarian_match(
            logits,
            boxes,
            pl,
            pb,
            num_targets=counts,
            class_cost=class_cost,
            w_class=2.0,
            w_bbox=5.0,
            w_giou=2.0,
        )
        for (i, j), (gi, gj), (pi, pj) in zip(want, got, got_padded):
            assert gi.dtype == torch.int64 and gj.dtype == torch.int64
            # The same assignment, or one of the same total cost (ties).
            assert len(gi) == len(i) == len(pi)
            assert torch.equal(gi, pi) and torch.equal(gj, pj)
        for c, (i, j), (gi, gj) in zip(want_cost, want, got):
            c = c.cpu()
            torch.testing.assert_close(c[gi, gj].sum(), c[i, j].sum())


def test_reference_agrees(device):
    logits, boxes, labels, tboxes = _problem(2, 30, 11, [4, 9], device)
    for class_cost in ("focal", "softmax"):
        got = lossext.detr_matching_cost(logits, boxes, labels, tboxes, class_cost=class_cost)
        want = lossext.reference.detr_matching_cost(logits, boxes, labels, tboxes, class_cost=class_cost)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w)
        ref = lossext.reference.hungarian_match(logits, boxes, labels, tboxes, class_cost=class_cost)
        out = lossext.hungarian_match(logits, boxes, labels, tboxes, class_cost=class_cost)
        for (a, b), (c, d) in zip(ref, out):
            assert torch.equal(a, c) and torch.equal(b, d)


def test_empty(device):
    logits, boxes, labels, tboxes = _problem(2, 5, 3, [0, 0], device)
    got = lossext.detr_matching_cost(logits, boxes, labels, tboxes)
    assert [tuple(g.shape) for g in got] == [(5, 0), (5, 0)]
    assert [len(i) for i, _ in lossext.hungarian_match(logits, boxes, labels, tboxes)] == [0, 0]
    no_query = lossext.detr_matching_cost(logits[:, :0], boxes[:, :0], *_problem(2, 1, 3, [2, 1], device)[2:])
    assert [tuple(g.shape) for g in no_query] == [(0, 2), (0, 1)]
    none = lossext.detr_matching_cost(logits[:0], boxes[:0], [], [])
    assert none == []


def test_label_outside_classes(device):
    logits, boxes, labels, tboxes = _problem(2, 6, 4, [3, 2], device)
    labels[1][1] = 4
    if device.type == "cpu":
        with pytest.raises(
            IndexError, match=r"target_labels contains 4 \(image 1, target 1\), outside \[0, 4\)"
        ):
            lossext.detr_matching_cost(logits, boxes, labels, tboxes)
    else:
        got = lossext.detr_matching_cost(logits, boxes, labels, tboxes)
        assert torch.isnan(got[1][:, 1]).all() and torch.isfinite(got[1][:, 0]).all()
        assert torch.isfinite(got[0]).all()


def test_bad_arguments(device):
    logits, boxes, labels, tboxes = _problem(2, 6, 4, [3, 2], device)
    pl, pb, counts = _padded(labels, tboxes, device)
    f = lossext.detr_matching_cost
    cases = [
        ((logits[0], boxes, labels, tboxes), {}, lossext.ArgumentError, "logits must have shape"),
        ((logits.long(), boxes, labels, tboxes), {}, TypeError, "logits must be a floating"),
        ((logits, boxes[:, :5], labels, tboxes), {}, lossext.ArgumentError, "boxes must have shape"),
        ((logits, boxes.long(), labels, tboxes), {}, TypeError, "boxes must be a floating"),
        ((logits, boxes, labels[:1], tboxes[:1]), {}, lossext.ArgumentError, "one tensor per image"),
        (
            (logits, boxes, [labels[0].float(), labels[1]], tboxes),
            {},
            lossext.ArgumentError,
            r"target_labels\[0\]",
        ),
        (
            (logits, boxes, labels, [tboxes[0][:, :3], tboxes[1]]),
            {},
            lossext.ArgumentError,
            r"target_boxes\[0\]",
        ),
        ((logits, boxes, labels, pb), {}, TypeError, "both be lists"),
        (
            (logits, boxes, labels, tboxes),
            dict(num_targets=counts),
            lossext.ArgumentError,
            "padded targets only",
        ),
        ((logits, boxes, pl, pb), {}, lossext.ArgumentError, "exactly one of target_mask"),
        (
            (logits, boxes, pl.int(), pb),
            dict(num_targets=counts),
            lossext.ArgumentError,
            "target_labels must be an int64",
        ),
        (
            (logits, boxes, pl, pb[:, :2]),
            dict(num_targets=counts),
            lossext.ArgumentError,
            "target_boxes must have shape",
        ),
        (
            (logits, boxes, pl, pb.long()),
            dict(num_targets=counts),
            TypeError,
            "target_boxes must be a floating",
        ),
        ((logits, boxes, pl, pb), dict(num_targets=[3, 4]), lossext.ArgumentError, "num_targets must hold"),
        (
            (logits, boxes, pl, pb),
            dict(num_targets=torch.ones(3, dtype=torch.long)),
            lossext.ArgumentError,
            "num_targets must be an integer",
        ),
        ((logits, boxes, pl, pb), dict(target_mask=pl > 0), None, None),
        (
            (logits, boxes, pl, pb),
            dict(target_mask=(pl > 0).int()),
            lossext.ArgumentError,
            "target_mask must be a bool",
        ),
        (
            (logits, boxes, labels, tboxes),
            dict(class_cost="sigmoid"),
            lossext.ArgumentError,
            "class_cost must be one of",
        ),
        ((logits, boxes, labels, tboxes), dict(gamma=-1.0), lossext.ArgumentError, "gamma must be >= 0"),
        (
            (logits, boxes, labels, tboxes),
            dict(alpha=float("nan")),
            lossext.ArgumentError,
            "alpha must be finite",
        ),
        (
            (logits, boxes, labels, tboxes),
            dict(w_giou=float("inf")),
            lossext.ArgumentError,
            "w_giou must be finite",
        ),
        ((logits, boxes, labels, tboxes), dict(w_bbox="5"), TypeError, "w_bbox must be a real number"),
    ]
    for args, kwargs, exc, msg in cases:
        if exc is None:
            f(*args, **kwargs)
            continue
        with pytest.raises(exc, match=msg):
            f(*args, **kwargs)


def test_kernel_argument_checks():
    device = torch.device("cpu")
    logits, boxes, labels, tboxes = _problem(2, 6, 4, [3, 3], device)
    pl, pb, _ = _padded(labels, tboxes, device)
    mask = torch.ones(2, 3, dtype=torch.bool)
    op = torch.ops.lossext.detr_matching_cost
    rest = (0, 0.25, 2.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="logits must be 3-D"):
        op(logits[0], boxes, pl, pb, mask, *rest)
    with pytest.raises(ValueError, match=r"boxes must have shape \(B, Q, 4\)"):
        op(logits, boxes[:, :2], pl, pb, mask, *rest)
    with pytest.raises(TypeError, match="target_labels must be int64"):
        op(logits, boxes, pl.int(), pb, mask, *rest)
    with pytest.raises(ValueError, match=r"target_boxes must have shape \(B, G, 4\)"):
        op(logits, boxes, pl, pb[:, :1], mask, *rest)
    with pytest.raises(TypeError, match="target_mask must be bool"):
        op(logits, boxes, pl, pb, mask.int(), *rest)
    with pytest.raises(ValueError, match="class_cost must be 0"):
        op(logits, boxes, pl, pb, mask, 2, *rest[1:])
    with pytest.raises(ValueError, match="gamma finite and >= 0"):
        op(logits, boxes, pl, pb, mask, 0, 0.25, -2.0, 1.0, 1.0, 1.0)
