"""Task-aligned assignment: the kernel against the reference, and the
reference (and the module) against ultralytics' TaskAlignedAssigner itself."""

import pytest
import torch

import lossext
from benchmarks import peers
from lossext import reference
from lossext.reference.task_aligned import _box_overlap, _candidates_in_boxes

OUTPUTS = ("target_labels", "target_bboxes", "target_scores", "fg_mask", "target_gt_idx")


def grid(side, stride=8.0):
    xs = (torch.arange(side, dtype=torch.float32) + 0.5) * stride
    return torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)


def make_inputs(batch=2, side=16, classes=7, boxes=9, seed=0, box_size=(2, 40), pred_size=(1, 40), pad=0.2):
    """A side x side grid of anchor points (stride 8), random boxes (xyxy) of
    sides in box_size, predictions jittered around their anchor point,
    scores in [0, 1), float labels and mask (B, G, 1) as ultralytics has them."""
    g = torch.Generator().manual_seed(seed)
    anc = grid(side)
    extent = side * 8.0
    centre = torch.rand(batch, boxes, 2, generator=g) * extent
    wh = torch.rand(batch, boxes, 2, generator=g) * (box_size[1] - box_size[0]) + box_size[0]
    gt = torch.cat([centre - wh / 2, centre + wh / 2], -1)
    labels = torch.randint(0, classes, (batch, boxes, 1), generator=g).float()
    mask = (torch.rand(batch, boxes, 1, generator=g) >= pad).float()
    gt = gt * mask  # padding is zeros, as ultralytics' preprocess makes it
    labels = labels * mask
    pc = anc + torch.randn(batch, anc.shape[0], 2, generator=g) * 3
    pwh = torch.rand(batch, anc.shape[0], 2, generator=g) * (pred_size[1] - pred_size[0]) + pred_size[0]
    pd = torch.cat([pc - pwh / 2, pc + pwh / 2], -1)
    scores = torch.rand(batch, anc.shape[0], classes, generator=g)
    return scores, pd, anc, labels, gt, mask


def assert_same(got, want, score_tol=1e-6):
    for name, x, y in zip(OUTPUTS, got, want):
        assert x.shape == y.shape, f"{name}: shape {tuple(x.shape)} vs {tuple(y.shape)}"
        if name == "target_scores":
            torch.testing.assert_close(x.float(), y.float(), rtol=score_tol, atol=score_tol, msg=name)
        else:
            assert torch.equal(x.to(y.dtype), y), (
                f"{name} differs at {int((x.to(y.dtype) != y).sum())} places"
            )


def positive_metric_counts(scores, pd, anc, labels, gt, mask, min_box_side=16.0):
    """(B, G): anchors of metric > 0 per box, from the reference's pieces."""
    labels, mask = labels.squeeze(-1).long(), mask.squeeze(-1).bool()
    candidate = _candidates_in_boxes(anc, gt, mask, min_box_side) & mask[..., None]
    overlap = _box_overlap(gt[:, :, None], pd[:, None], "ciou")
    score = scores.gather(2, labels[:, None, :].expand(-1, scores.shape[1], -1)).transpose(1, 2)
    return (candidate & (score * overlap.pow(6) > 0)).sum(-1)


# ---- the reference against ultralytics ----------------------------------------------------------


@pytest.fixture(scope="module")
def ultralytics():
    tal = peers.ultralytics_tal()
    if tal is None:
        pytest.skip("ultralytics is not installed in build/peers-ultralytics (tools/bootstrap.sh)")
    return tal


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("topk", [5, 10, 13])
def test_reference_equals_ultralytics(ultralytics, seed, topk):
    """Inputs where every real box has at least topk anchors of positive
    metric, so that no tie of zero metrics reaches a top-k (ultralytics'
    torch.topk orders those some other way): everything equal."""
    args = make_inputs(seed=seed, box_size=(56, 80), pred_size=(40, 56))
    counts = positive_metric_counts(*args)
    real = args[5].squeeze(-1).bool()
    assert real.any() and bool((counts[real] >= topk).all()), "the inputs do not avoid zero-metric ties"
    want = ultralytics.TaskAlignedAssigner(topk=topk, num_classes=7, alpha=1.0, beta=6.0)(*args)
    got = reference.task_aligned_assign(*args, topk=topk)
    assert int(want[3].sum()) > 0
    assert_same(got, want, score_tol=0)
    assert_same(lossext.nn.TaskAlignedAssigner(topk=topk, num_classes=7)(*args), want)


@pytest.mark.parametrize("seed", range(6))
def test_reference_equals_ultralytics_up_to_zero_metric_ties(ultralytics, seed):
    """Any inputs: the scores are equal everywhere, and every anchor with a
    nonzero target score has the same label, box and index. Anchors that
    differ are positives of metric 0, picked among equal metrics."""
    args = make_inputs(seed=seed)
    want = ultralytics.TaskAlignedAssigner(topk=13, num_classes=7)(*args)
    got = reference.task_aligned_assign(*args)
    torch.testing.assert_close(got[2], want[2], rtol=0, atol=0)
    scored = want[2].sum(-1) > 0
    assert scored.sum() > 10
    for name, x, y in zip(OUTPUTS, got, want):
        if name != "target_scores":
            assert torch.equal(x[scored].to(y.dtype), y[scored]), name


@pytest.mark.parametrize(
    "kw", [dict(alpha=0.5, beta=2.0), dict(stride=[32]), dict(stride=[8, 4, 32], eps=1e-3)]
)
def test_module_options_equal_ultralytics(ultralytics, kw):
    args = make_inputs(seed=7, box_size=(30, 60), pred_size=(40, 56))
    want = ultralytics.TaskAlignedAssigner(topk=4, num_classes=7, **kw)(*args)
    got = lossext.nn.TaskAlignedAssigner(topk=4, num_classes=7, **kw)(*args)
    assert int(want[3].sum()) > 0
    assert_same(got, want)


def test_no_boxes_equals_ultralytics(ultralytics):
    scores, pd, anc, _, _, _ = make_inputs()
    empty = (torch.zeros(2, 0, 1), torch.zeros(2, 0, 4), torch.zeros(2, 0, 1))
    want = ultralytics.TaskAlignedAssigner(num_classes=7)(scores, pd, anc, *empty)
    for got in (
        lossext.task_aligned_assign(scores, pd, anc, *empty),
        reference.task_aligned_assign(scores, pd, anc, *empty),
    ):
        assert bool((got[0] == 7).all()) and got[0].dtype == torch.long
        for x, y in zip(got, want):
            assert torch.equal(x.to(y.dtype), y)


def test_all_padded_equals_ultralytics(ultralytics):
    scores, pd, anc, labels, gt, mask = make_inputs()
    mask = torch.zeros_like(mask)
    want = ultralytics.TaskAlignedAssigner(num_classes=7)(scores, pd, anc, labels, gt, mask)
    got = lossext.task_aligned_assign(scores, pd, anc, labels, gt, mask)
    assert not got[3].any()
    assert_same(got, want)


# ---- the kernel against the reference -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("iou", ["ciou", "iou"])
@pytest.mark.parametrize("topk", [1, 10, 13, 40])
def test_kernel_equals_reference(dtype, iou, topk):
    scores, pd, anc, labels, gt, mask = make_inputs(seed=topk)
    args = (scores.to(dtype), pd.to(dtype), anc, labels, gt.to(dtype), mask)
    got = lossext.task_aligned_assign(*args, topk=topk, iou=iou)
    want = reference.task_aligned_assign(*args, topk=topk, iou=iou)
    assert int(want[3].sum()) > 0
    assert got[2].dtype == dtype and got[1].dtype == dtype
    assert_same(got, want, score_tol=1e-6 if dtype in (torch.float32, torch.float64) else 1e-2)


@pytest.mark.parametrize(
    "kw",
    [
        dict(min_box_side=0.0),
        dict(min_box_side=40.0),
        dict(alpha=0.0, beta=0.0),
        dict(alpha=2.0, beta=1.0, eps=0.5),
    ],
)
def test_kernel_options_equal_reference(kw):
    args = make_inputs(seed=3)
    assert_same(lossext.task_aligned_assign(*args, **kw), reference.task_aligned_assign(*args, **kw))


def test_yolo_shape_equals_reference():
    """An 80 x 80 + 40 x 40 + 20 x 20 anchor grid (A = 8400), 80 classes."""
    g = torch.Generator().manual_seed(11)
    anc = torch.cat([grid(80, 8), grid(40, 16), grid(20, 32)])
    B, G, C = 2, 30, 80
    centre = torch.rand(B, G, 2, generator=g) * 640
    wh = torch.rand(B, G, 2, generator=g) * 200 + 4
    gt = torch.cat([centre - wh / 2, centre + wh / 2], -1)
    labels = torch.randint(0, C, (B, G, 1), generator=g)
    mask = torch.rand(B, G, 1, generator=g) < 0.8
    pwh = torch.rand(B, 8400, 2, generator=g) * 150 + 4
    pd = torch.cat([anc - pwh / 2, anc + pwh / 2], -1)
    scores = torch.rand(B, 8400, C, generator=g)
    args = (scores, pd, anc, labels, gt * mask, mask)
    assert_same(lossext.task_aligned_assign(*args, topk=10), reference.task_aligned_assign(*args, topk=10))


def test_anchor_inside_several_boxes_goes_to_the_largest_overlap():
    """Nested boxes around one point: the anchors inside several boxes take
    the box their prediction overlaps most; the inner boxes own only those."""
    anc = grid(8)
    centre = torch.tensor([32.0, 32.0])
    sizes = torch.tensor([[16.0, 16.0], [24.0, 24.0], [40.0, 32.0]])
    gt = torch.cat([centre - sizes / 2, centre + sizes / 2], -1)[None]
    pd = torch.cat([anc - 10, anc + 10], -1)[None]  # every prediction 20 x 20 about its anchor
    scores = torch.full((1, 64, 3), 0.5)
    labels = torch.tensor([[0, 1, 2]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    got = lossext.task_aligned_assign(scores, pd, anc, labels, gt, mask, topk=9, min_box_side=0.0)
    want = reference.task_aligned_assign(scores, pd, anc, labels, gt, mask, topk=9, min_box_side=0.0)
    assert_same(got, want)
    fg, idx = got[3][0], got[4][0]
    inner = _candidates_in_boxes(anc, gt, mask, 0.0)[0].sum(0) > 1
    assert inner.any()
    # For anchors in several boxes the box of largest CIoU wins, whatever the top-k said.
    overlaps = _box_overlap(gt[0][:, None], pd[0][None], "ciou")
    several = fg & inner
    assert several.any()
    assert torch.equal(idx[several], overlaps[:, several].argmax(0))


def test_ties_lowest_anchor_index_first():
    """Equal metrics: a box keeps the lowest anchor indices."""
    anc = torch.stack([torch.arange(6.0) * 4 + 2, torch.full((6,), 2.0)], -1)  # one row of 6 points
    gt = torch.tensor([[[0.0, 0.0, 24.0, 4.0]]])  # holds all six
    pd = torch.tensor([0.0, 0.0, 24.0, 4.0]).expand(1, 6, 4)  # the same prediction everywhere
    scores = torch.full((1, 6, 2), 0.5)
    args = (scores, pd, anc, torch.tensor([[1]]), gt, torch.tensor([[True]]))
    for fn in (lossext.task_aligned_assign, reference.task_aligned_assign):
        out = fn(*args, topk=3, min_box_side=0.0)
        assert out[3][0].tolist() == [True, True, True, False, False, False]
        assert torch.allclose(out[2][0, :3, 1], torch.ones(3))  # metric / max metric * max overlap (= 1)


def test_box_with_fewer_anchors_than_topk():
    """A box holding 2 anchor points keeps those 2 (the rest of its top-k
    lies outside it), as many positives as there are candidates."""
    anc = grid(8)
    gt = torch.tensor([[[8.5, 8.5, 24.5, 15.5]]])  # holds (12, 12) and (20, 12)
    pd = torch.cat([anc - 4, anc + 4], -1)[None]
    scores = torch.rand(1, 64, 2, generator=torch.Generator().manual_seed(0))
    args = (scores, pd, anc, torch.tensor([[0]]), gt, torch.tensor([[True]]))
    for fn in (lossext.task_aligned_assign, reference.task_aligned_assign):
        out = fn(*args, topk=13, min_box_side=0.0)
        assert out[3].sum() == 2
        assert out[3][0].nonzero().flatten().tolist() == [9, 10]


def test_degenerate_boxes():
    """Zero-area boxes hold no anchor point strictly inside unless
    min_box_side widens them; then they have positives of metric 0 (CIoU of a
    zero-area box is at most 0) only through ties, and zero scores."""
    args = list(make_inputs(seed=5))
    gt = args[4].clone()
    gt[..., 2] = gt[..., 0]  # zero width
    gt[:, ::2, 3] = gt[:, ::2, 1]  # and some zero height too
    args[4] = gt
    out = lossext.task_aligned_assign(*args, min_box_side=0.0)
    assert not out[3].any()
    assert_same(out, reference.task_aligned_assign(*args, min_box_side=0.0))
    out = lossext.task_aligned_assign(*args, min_box_side=16.0)
    assert_same(out, reference.task_aligned_assign(*args, min_box_side=16.0))
    assert float(out[2].abs().sum()) == 0


def test_layouts_and_label_forms():
    """(B, G, 1) or (B, G) labels and masks, integer or float labels, bool or
    float masks, non-contiguous inputs: one result."""
    scores, pd, anc, labels, gt, mask = make_inputs(seed=2)
    want = lossext.task_aligned_assign(scores, pd, anc, labels, gt, mask)
    strided = (
        scores.transpose(1, 2).contiguous().transpose(1, 2),
        pd.transpose(0, 1).contiguous().transpose(0, 1),
        anc.t().contiguous().t(),
        labels.squeeze(-1).long(),
        gt.transpose(0, 2).contiguous().transpose(0, 2),
        mask.squeeze(-1).bool(),
    )
    assert not strided[0].is_contiguous()
    assert_same(lossext.task_aligned_assign(*strided), want)


def test_deterministic_across_thread_counts():
    args = make_inputs(batch=3, seed=9)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = lossext.task_aligned_assign(*args)
        torch.set_num_threads(2)
        two = lossext.task_aligned_assign(*args)
    finally:
        torch.set_num_threads(threads)
    for x, y in zip(one, two):
        assert torch.equal(x, y)


def test_no_gradient():
    scores, pd, anc, labels, gt, mask = make_inputs()
    scores.requires_grad_()
    out = lossext.task_aligned_assign(scores, pd, anc, labels, gt, mask)
    assert not out[2].requires_grad


# ---- bad input ----------------------------------------------------------------------------------


def _bad(**change):
    scores, pd, anc, labels, gt, mask = make_inputs(batch=1, side=4, boxes=2)
    args = dict(pd_scores=scores, pd_bboxes=pd, anc_points=anc, gt_labels=labels, gt_bboxes=gt, mask_gt=mask)
    args.update(change)
    return args


BAD = [
    (dict(pd_scores=torch.rand(16, 7)), ValueError, "pd_scores must have shape"),
    (dict(pd_scores=torch.rand(1, 16, 0)), ValueError, "pd_scores must have shape"),
    (dict(pd_scores=torch.ones(1, 16, 7, dtype=torch.long)), TypeError, "pd_scores must be a floating"),
    (dict(pd_scores=[1.0]), TypeError, "pd_scores must be a torch.Tensor"),
    (dict(pd_bboxes=torch.rand(1, 15, 4)), ValueError, "pd_bboxes must have shape"),
    (dict(pd_bboxes=torch.rand(1, 16, 5)), ValueError, "pd_bboxes must have shape"),
    (dict(pd_bboxes=torch.ones(1, 16, 4, dtype=torch.int32)), TypeError, "pd_bboxes must be a floating"),
    (dict(anc_points=torch.rand(16, 3)), ValueError, "anc_points must have shape"),
    (dict(anc_points=torch.ones(16, 2, dtype=torch.long)), TypeError, "anc_points must be a floating"),
    (dict(gt_labels=torch.zeros(1, 3, 1)), ValueError, "gt_labels must have shape"),
    (dict(gt_labels=torch.zeros(1, 2, 1, dtype=torch.bool)), TypeError, "gt_labels must be an integer"),
    (dict(gt_labels=torch.full((1, 2, 1), 7.0)), IndexError, "gt_labels of a box with mask_gt set"),
    (dict(gt_labels=torch.full((1, 2), -1)), IndexError, "gt_labels of a box with mask_gt set"),
    (dict(gt_bboxes=torch.rand(2, 2, 4)), ValueError, "gt_bboxes must have shape"),
    (dict(gt_bboxes=torch.rand(1, 2, 2)), ValueError, "gt_bboxes must have shape"),
    (dict(gt_bboxes=torch.ones(1, 2, 4, dtype=torch.long)), TypeError, "gt_bboxes must be a floating"),
    (dict(mask_gt=torch.ones(1, 3)), ValueError, "mask_gt must have shape"),
    (dict(mask_gt=torch.ones(1, 2, 2)), ValueError, "mask_gt must have shape"),
    (dict(topk=0), ValueError, "topk must be in"),
    (dict(topk=65), ValueError, "topk must be in"),
    (dict(topk=17), ValueError, "at most the number of anchors"),
    (dict(topk=2.0), TypeError, "topk must be an int"),
    (dict(alpha=-1.0), ValueError, "alpha must be >= 0"),
    (dict(beta=float("inf")), ValueError, "beta must be a finite"),
    (dict(eps=-1e-9), ValueError, "eps must be >= 0"),
    (dict(eps="1e-9"), TypeError, "eps must be a real number"),
    (dict(min_box_side=float("nan")), ValueError, "min_box_side must be a finite"),
    (dict(iou="giou"), ValueError, "iou must be one of"),
]


@pytest.mark.parametrize(
    "change, exc, match", BAD, ids=[f"{i}-{next(iter(c))}" for i, (c, _, _) in enumerate(BAD)]
)
def test_bad_arguments(change, exc, match):
    with pytest.raises(exc, match=match) as info:
        lossext.task_aligned_assign(**_bad(**change))
    if exc is ValueError:
        assert isinstance(info.value, lossext.ArgumentError)


def test_padded_box_labels_are_not_checked():
    """ultralytics pads with label 0 or -1; a padded box's label is never read as a class."""
    args = _bad(gt_labels=torch.tensor([[[3.0], [-1.0]]]), mask_gt=torch.tensor([[[1.0], [0.0]]]))
    out = lossext.task_aligned_assign(**args)
    assert_same(out, reference.task_aligned_assign(*args.values()))


def test_op_checks_arguments_itself():
    """The op called directly (no Python checks) raises the same kinds of errors."""
    scores, pd, anc, labels, gt, mask = make_inputs(batch=1, side=4, boxes=2)
    labels, mask = labels.squeeze(-1), mask.squeeze(-1)
    op = torch.ops.lossext.task_aligned_assign
    with pytest.raises(ValueError, match="topk must be at most"):
        op(scores, pd, anc, labels, gt, mask, 17, 1.0, 6.0, 1e-9, 0, 16.0)
    with pytest.raises(ValueError, match="overlap must be"):
        op(scores, pd, anc, labels, gt, mask, 4, 1.0, 6.0, 1e-9, 2, 16.0)
    with pytest.raises(ValueError, match="anc_points must have shape"):
        op(scores, pd, anc[:3], labels, gt, mask, 4, 1.0, 6.0, 1e-9, 0, 16.0)
    with pytest.raises(IndexError, match="gt_labels"):
        op(scores, pd, anc, torch.full_like(labels, 9), gt, torch.ones_like(mask), 4, 1.0, 6.0, 1e-9, 0, 16.0)


def test_module_rejects_other_topk2_and_class_count():
    with pytest.raises(lossext.ArgumentError, match="topk2"):
        lossext.nn.TaskAlignedAssigner(topk=10, topk2=7)
    with pytest.raises(lossext.ArgumentError, match="num_classes"):
        lossext.nn.TaskAlignedAssigner(num_classes=80)(*make_inputs())


def test_benchmark_implementations_agree():
    from benchmarks import bench_task_aligned

    args = bench_task_aligned.make_inputs(2, 12, 5, "cpu")
    impls = bench_task_aligned.implementations(10)
    assert_same(impls["lossext"](*args), impls["reference"](*args))
