"""BCE with logits against torch's own function, quality focal and varifocal
against mmdet's formulas (restated below with mmdet's own indexing, since
mmdet does not install here), all three against lossext.reference, on every
dtype, layout and option; edge values, bad arguments."""

import pytest
import torch
import torch.nn.functional as F
from tests.conftest import tolerances

import lossext
from lossext import reference

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
REDUCTIONS = ["none", "mean", "sum"]
EPS = torch.finfo(torch.float32).eps
pytestmark = pytest.mark.filterwarnings("ignore::lossext.LossextFallbackWarning")


def grads(out, tensors, g=None):
    g = torch.ones_like(out) if g is None else g
    return torch.autograd.grad(out, tensors, g, retain_graph=True, allow_unused=True, materialize_grads=True)


def leaf(x, grad=True):
    return x.detach().clone().requires_grad_(grad)


# ---------------------------------------------------------------- mmdet, restated


def mmdet_weight_reduce_loss(loss, weight=None, reduction="mean", avg_factor=None):
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]
    if reduction == "mean":
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    assert reduction == "none"
    return loss


def mmdet_quality_focal_loss(pred, label, score, beta=2.0):
    """mmdet/models/losses/gfocal_loss.py quality_focal_loss, unreduced."""
    pred_sigmoid = pred.sigmoid()
    scale_factor = pred_sigmoid
    zerolabel = scale_factor.new_zeros(pred.shape)
    loss = F.binary_cross_entropy_with_logits(pred, zerolabel, reduction="none") * scale_factor.pow(beta)
    bg_class_ind = pred.size(1)
    pos = ((label >= 0) & (label < bg_class_ind)).nonzero().squeeze(1)
    pos_label = label[pos].long()
    scale_factor = score[pos] - pred_sigmoid[pos, pos_label]
    loss[pos, pos_label] = F.binary_cross_entropy_with_logits(
        pred[pos, pos_label], score[pos], reduction="none"
    ) * scale_factor.abs().pow(beta)
    return loss.sum(dim=1, keepdim=False)


def mmdet_quality_focal_loss_tensor_target(pred, target, beta=2.0):
    """mmdet's quality_focal_loss_tensor_target (activated=False), unreduced."""
    pred_sigmoid = pred.sigmoid()
    scale_factor = pred_sigmoid
    target = target.type_as(pred)
    zerolabel = scale_factor.new_zeros(pred.shape)
    loss = F.binary_cross_entropy_with_logits(pred, zerolabel, reduction="none") * scale_factor.pow(beta)
    pos = target != 0
    scale_factor = target[pos] - pred_sigmoid[pos]
    loss[pos] = F.binary_cross_entropy_with_logits(
        pred[pos], target[pos], reduction="none"
    ) * scale_factor.abs().pow(beta)
    return loss.sum(dim=1, keepdim=False)


def mmdet_varifocal_loss(pred, target, alpha=0.75, gamma=2.0, iou_weighted=True):
    """mmdet/models/losses/varifocal_loss.py varifocal_loss, unreduced."""
    pred_sigmoid = pred.sigmoid()
    target = target.type_as(pred)
    if iou_weighted:
        focal_weight = (
            target * (target > 0.0).float()
            + alpha * (pred_sigmoid - target).abs().pow(gamma) * (target <= 0.0).float()
        )
    else:
        focal_weight = (target > 0.0).float() + alpha * (pred_sigmoid - target).abs().pow(gamma) * (
            target <= 0.0
        ).float()
    return F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight


def qfl_inputs(n, c, device, dtype=torch.float64):
    pred = torch.randn(n, c, dtype=dtype, device=device) * 3
    label = torch.randint(0, c + 1, (n,), device=device)  # c = background
    if n > 3:
        label[0], label[1] = -1, c  # background both ways
    score = torch.rand(n, dtype=dtype, device=device)
    return pred, label, score


def vfl_target(n, c, device, dtype=torch.float64):
    t = torch.rand(n, c, dtype=dtype, device=device)
    return t * (torch.rand(n, c, device=device) < 0.3)


# ---------------------------------------------------------------- BCE with logits against torch

SHAPES = [(), (7,), (6, 5), (3, 4, 5), (2, 3, 4, 6), (9, 1)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_bce_matches_torch(device, shape, reduction):
    x = torch.randn(shape, dtype=torch.float64, device=device) * 4
    t = torch.rand(shape, dtype=torch.float64, device=device)
    if t.numel() > 2:
        t.view(-1)[:2] = torch.tensor([0.0, 1.0])
    xa, ta, xb, tb = leaf(x), leaf(t), leaf(x), leaf(t)
    got = lossext.binary_cross_entropy_with_logits(xa, ta, reduction=reduction)
    want = F.binary_cross_entropy_with_logits(xb, tb, reduction=reduction)
    torch.testing.assert_close(got, want)
    g = torch.rand_like(want)
    for a, b in zip(grads(got, (xa, ta), g), grads(want, (xb, tb), g)):
        torch.testing.assert_close(a, b)


# (input shape, weight shape, pos_weight shape): shapes torch accepts.
FACTORS = [
    ((6, 5), (5,), (5,)),
    ((6, 5), (6, 1), (6, 1)),
    ((6, 5), (1, 5), (1,)),
    ((6, 5), (6, 5), (6, 5)),
    ((6, 5), (), None),
    ((3, 4, 5), (4, 5), (5,)),  # weight that no single row stride describes: copied
    ((3, 4, 5), (4, 1), (4, 1)),
    ((3, 4, 5), (3, 1, 1), (3, 4, 5)),
    ((7,), (7,), (1,)),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shapes", FACTORS, ids=str)
def test_bce_weight_pos_weight_as_torch(device, shapes, reduction):
    shape, w_shape, pw_shape = shapes
    x = torch.randn(shape, dtype=torch.float64, device=device) * 3
    t = torch.rand(shape, dtype=torch.float64, device=device)
    w = torch.rand(w_shape, dtype=torch.float64, device=device) + 0.1
    pw = None if pw_shape is None else torch.rand(pw_shape, dtype=torch.float64, device=device) * 3
    mine = [leaf(v) if v is not None else None for v in (x, t, w, pw)]
    got = lossext.binary_cross_entropy_with_logits(mine[0], mine[1], mine[2], reduction, mine[3])
    # torch differentiates neither weight nor pos_weight: their gradients are
    # checked against the reference formula.
    xb, tb = leaf(x), leaf(t)
    want = F.binary_cross_entropy_with_logits(xb, tb, w, reduction=reduction, pos_weight=pw)
    torch.testing.assert_close(got, want)
    g = torch.rand_like(want)
    for a, b in zip(grads(got, mine[:2], g), grads(want, (xb, tb), g)):
        torch.testing.assert_close(a, b)
    factors = [leaf(v) if v is not None else None for v in (w, pw)]
    ref = reference.binary_cross_entropy_with_logits(x, t, factors[0], reduction, factors[1])
    torch.testing.assert_close(ref, want)
    live = [i for i in range(2) if factors[i] is not None]
    got_g = grads(got, [mine[2 + i] for i in live], g)
    want_g = grads(ref, [factors[i] for i in live], g)
    for a, b in zip(got_g, want_g):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_bce_dtypes(device, dtype):
    x = (torch.randn(64, 13, device=device) * 4).to(dtype)
    t = torch.rand(64, 13, device=device).to(dtype)
    w, pw = torch.rand(13, device=device), torch.rand(64, 1, device=device) * 2
    tol = tolerances(dtype)
    for reduction in REDUCTIONS:
        xa, ta = leaf(x), leaf(t)
        got = lossext.binary_cross_entropy_with_logits(xa, ta, w, reduction, pw)
        assert got.dtype == dtype
        want = F.binary_cross_entropy_with_logits(
            x.double(), t.double(), w.double(), reduction=reduction, pos_weight=pw.double()
        )
        torch.testing.assert_close(got.double(), want, **tol)
        gx, gt = grads(got, (xa, ta))
        xr, tr = leaf(x.double()), leaf(t.double())
        ref = F.binary_cross_entropy_with_logits(
            xr, tr, w.double(), reduction=reduction, pos_weight=pw.double()
        )
        wx, wt = grads(ref, (xr, tr))
        torch.testing.assert_close(gx.double(), wx, **tol)
        torch.testing.assert_close(gt.double(), wt, **tol)


def test_bce_mixed_dtypes_promote_as_torch(device):
    x, t = torch.randn(5, 3, device=device), torch.rand(5, 3, dtype=torch.float64, device=device)
    got = lossext.binary_cross_entropy_with_logits(x, t)
    want = F.binary_cross_entropy_with_logits(x, t)
    assert got.dtype == want.dtype == torch.float64
    torch.testing.assert_close(got, want)
    w = torch.rand(3, dtype=torch.float64, device=device)
    got = lossext.binary_cross_entropy_with_logits(x, t.float(), w, "none")
    assert got.dtype == F.binary_cross_entropy_with_logits(x, t.float(), w, reduction="none").dtype


def test_bce_non_contiguous(device):
    x = torch.randn(8, 6, dtype=torch.float64, device=device).t()
    t = torch.rand(12, 8, dtype=torch.float64, device=device)[::2]
    w = torch.rand(6, 2, dtype=torch.float64, device=device)[:, :1]
    torch.testing.assert_close(
        lossext.binary_cross_entropy_with_logits(x, t, w, "none"),
        F.binary_cross_entropy_with_logits(x, t, w, reduction="none"),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_normalizer(device, reduction):
    x = leaf(torch.randn(10, 4, dtype=torch.float64, device=device))
    t = torch.rand(10, 4, dtype=torch.float64, device=device)
    element = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    for n in (3.0, torch.tensor(3.0, dtype=torch.float64, device=device)):
        got = lossext.binary_cross_entropy_with_logits(x, t, reduction=reduction, normalizer=n)
        want = (element if reduction == "none" else element.sum()) / 3.0
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(grads(got, x)[0], grads(want, x)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_bce_huge_logits_finite(device, dtype):
    big = 6e4 if dtype == torch.float16 else (1e30 if dtype != torch.float64 else 1e300)
    x = torch.tensor([big, -big, 100.0, -100.0, 30.0, -30.0], dtype=torch.float64, device=device).to(dtype)
    t = torch.tensor([0.5, 0.5, 1.0, 0.0, 0.0, 1.0], device=device).to(dtype)
    xa = leaf(x)
    got = lossext.binary_cross_entropy_with_logits(xa, t, reduction="none")
    want = F.binary_cross_entropy_with_logits(x.double(), t.double(), reduction="none")
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), want, **tolerances(dtype))
    (g,) = grads(got, xa)
    assert torch.isfinite(g).all()
    # Saturated and right: no gradient; saturated and wrong: -/+1.
    torch.testing.assert_close(
        g.double(),
        torch.tensor([0.5, -0.5, 0.0, 0.0, 1.0, -1.0], dtype=torch.float64, device=device),
        **tolerances(dtype),
    )


def test_focal_huge_logits_finite(device):
    x = leaf(torch.tensor([[1e30, -1e30, 80.0], [-80.0, 0.0, 1e4]], device=device))
    label, score = torch.tensor([0, 2], device=device), torch.tensor([0.9, 0.4], device=device)
    for loss in (
        lossext.quality_focal_loss(x, (label, score), reduction="none"),
        lossext.varifocal_loss(
            x, torch.tensor([[0.9, 0.0, 0.0], [0.0, 0.3, 1.0]], device=device), reduction="none"
        ),
    ):
        assert torch.isfinite(loss).all()
        assert torch.isfinite(grads(loss, x)[0]).all()


def test_nan_propagates(device):
    x = torch.randn(4, 5, device=device)
    x[1, 2] = float("nan")
    t = torch.rand(4, 5, device=device)
    t[3, 0] = float("nan")
    xa = leaf(x)
    got = lossext.binary_cross_entropy_with_logits(xa, t, reduction="none")
    want = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert torch.equal(got.isnan(), want.isnan()) and got.isnan().sum() == 2
    (g,) = grads(got, xa)
    assert g[1, 2].isnan() and g[3, 0].isnan() and g.isnan().sum() == 2
    assert lossext.binary_cross_entropy_with_logits(x, t).isnan()
    q = lossext.quality_focal_loss(
        leaf(x), (torch.tensor([2, 2, 0, 5], device=device), torch.rand(4, device=device)), reduction="none"
    )
    assert q.isnan().tolist() == [False, True, False, False]
    v = lossext.varifocal_loss(x, t * (t > 0.5), reduction="none")
    assert v.isnan().sum() == 2 and v[1, 2].isnan() and v[3, 0].isnan()


def test_empty(device):
    for shape in [(0,), (0, 5), (4, 0)]:
        x, t = leaf(torch.randn(shape, device=device)), torch.rand(shape, device=device)
        for reduction in REDUCTIONS:
            got = lossext.binary_cross_entropy_with_logits(x, t, reduction=reduction)
            torch.testing.assert_close(
                got, F.binary_cross_entropy_with_logits(x, t, reduction=reduction), equal_nan=True
            )
        got = lossext.binary_cross_entropy_with_logits(x, t, reduction="sum")
        assert grads(got, x)[0].shape == shape
    pred = leaf(torch.randn(0, 5, device=device))
    empty_label, empty_score = torch.zeros(0, dtype=torch.long, device=device), torch.zeros(0, device=device)
    assert lossext.quality_focal_loss(pred, (empty_label, empty_score)).isnan()  # mmdet: mean of nothing
    assert lossext.quality_focal_loss(pred, (empty_label, empty_score), reduction="sum") == 0
    assert lossext.quality_focal_loss(pred, (empty_label, empty_score), avg_factor=1.0) == 0
    assert lossext.varifocal_loss(pred, torch.zeros(0, 5, device=device), reduction="sum") == 0
    out = lossext.quality_focal_loss(pred, (empty_label, empty_score), reduction="sum")
    assert grads(out, pred)[0].shape == (0, 5)
    # Rows without classes: every row sums to 0.
    pred = torch.randn(3, 0, device=device)
    got = lossext.quality_focal_loss(
        pred, (torch.tensor([0, 0, 0], device=device), torch.rand(3, device=device)), reduction="none"
    )
    assert torch.equal(got, torch.zeros(3, device=device))


def test_bce_gradcheck(device):
    x = torch.randn(5, 4, dtype=torch.float64, device=device, requires_grad=True)
    t = torch.rand(5, 4, dtype=torch.float64, device=device, requires_grad=True)
    w = torch.rand(4, dtype=torch.float64, device=device, requires_grad=True)
    pw = torch.rand(5, 1, dtype=torch.float64, device=device, requires_grad=True)
    for reduction in REDUCTIONS:
        f = lambda x, t, w, pw: lossext.binary_cross_entropy_with_logits(x, t, w, reduction, pw)  # noqa: E731
        assert torch.autograd.gradcheck(f, (x, t, w, pw))
    assert torch.autograd.gradgradcheck(
        lambda x, t: lossext.binary_cross_entropy_with_logits(x, t, reduction="sum"), (x, t)
    )


@pytest.mark.parametrize("beta", [2.0, 1.5])
def test_focal_gradcheck(device, beta):
    pred, label, score = qfl_inputs(6, 4, device)
    pred.requires_grad_()
    w = torch.rand(6, dtype=torch.float64, device=device, requires_grad=True)
    dense = torch.rand(6, 4, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p, w: lossext.quality_focal_loss(p, (label, score), w, beta, "sum"), (pred, w)
    )
    assert torch.autograd.gradcheck(
        lambda p, t: lossext.quality_focal_loss(p, t, None, beta, "none"), (pred, dense)
    )
    t = vfl_target(6, 4, device)
    for iou in (True, False):
        assert torch.autograd.gradcheck(
            lambda p: lossext.varifocal_loss(p, t, None, 0.75, beta, iou, "none"), (pred,)
        )
    assert torch.autograd.gradgradcheck(
        lambda p: lossext.varifocal_loss(p, t, gamma=beta, reduction="sum"), (pred,)
    )


# ---------------------------------------------------------------- quality focal against mmdet


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5, 3.0])
def test_quality_focal_matches_mmdet(device, beta):
    pred, label, score = qfl_inputs(40, 7, device)
    pa, pb = leaf(pred), leaf(pred)
    got = lossext.quality_focal_loss(pa, (label, score), beta=beta, reduction="none")
    want = mmdet_quality_focal_loss(pb, label, score, beta)
    torch.testing.assert_close(got, want)
    g = torch.rand_like(want)
    torch.testing.assert_close(grads(got, pa, g)[0], grads(want, pb, g)[0])


def test_quality_focal_tensor_target_matches_mmdet(device):
    pred = torch.randn(30, 6, dtype=torch.float64, device=device) * 2
    target = torch.rand(30, 6, dtype=torch.float64, device=device) * (torch.rand(30, 6, device=device) < 0.4)
    pa, pb = leaf(pred), leaf(pred)
    got = lossext.quality_focal_loss(pa, target, reduction="none")
    want = mmdet_quality_focal_loss_tensor_target(pb, target)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(grads(got, pa)[0], grads(want, pb)[0])
    # The dense form of a (label, score) target is the same loss.
    _, label, score = qfl_inputs(30, 6, device)
    dense = reference.bce._dense_quality_target(label, score, 6, torch.float64)
    torch.testing.assert_close(
        lossext.quality_focal_loss(pred, dense, reduction="none"),
        lossext.quality_focal_loss(pred, (label, score), reduction="none"),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_quality_focal_weight_and_reduction(device, reduction):
    pred, label, score = qfl_inputs(25, 5, device)
    w = torch.rand(25, dtype=torch.float64, device=device)
    per_row = mmdet_quality_focal_loss(pred, label, score)
    got = lossext.quality_focal_loss(pred, (label, score), w, reduction=reduction)
    torch.testing.assert_close(got, mmdet_weight_reduce_loss(per_row, w, reduction))
    if reduction != "sum":
        for avg in (7.0, torch.tensor(7.0, dtype=torch.float64, device=device)):
            got = lossext.quality_focal_loss(pred, (label, score), w, reduction=reduction, avg_factor=avg)
            torch.testing.assert_close(got, mmdet_weight_reduce_loss(per_row, w, reduction, 7.0))
    # An (N, C) weight weighs each element before the class sum.
    w2 = torch.rand(25, 5, dtype=torch.float64, device=device)
    dense = reference.bce._dense_quality_target(label, score, 5, torch.float64)
    elements = (
        F.binary_cross_entropy_with_logits(pred, dense, reduction="none")
        * (dense - pred.sigmoid()).abs() ** 2
    )
    got = lossext.quality_focal_loss(pred, (label, score), w2, reduction=reduction)
    torch.testing.assert_close(got, mmdet_weight_reduce_loss((elements * w2).sum(1), None, reduction))


def test_quality_focal_all_background(device):
    pred = leaf(torch.randn(12, 4, dtype=torch.float64, device=device))
    label = torch.full((12,), 4, device=device)
    score = torch.rand(12, dtype=torch.float64, device=device)
    got = lossext.quality_focal_loss(pred, (label, score), reduction="none")
    want = (F.softplus(pred) * pred.sigmoid() ** 2).sum(1)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(grads(got, pred)[0], grads(want, pred)[0])
    torch.testing.assert_close(
        got, lossext.quality_focal_loss(pred, (label - 5, score), reduction="none")
    )  # -1


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_focal_dtypes(device, dtype):
    pred, label, score = qfl_inputs(50, 9, device)
    t = vfl_target(50, 9, device)
    tol = tolerances(dtype)
    cases = [
        (
            lambda p: lossext.quality_focal_loss(p, (label, score.to(dtype)), reduction="none"),
            lambda p: mmdet_quality_focal_loss(p, label, score.to(dtype).double()),
        ),
        (
            lambda p: lossext.varifocal_loss(p, t.to(dtype), reduction="none"),
            lambda p: mmdet_varifocal_loss(p, t.to(dtype).double()),
        ),
        (
            lambda p: lossext.varifocal_loss(p, t.to(dtype), gamma=1.5, iou_weighted=False, reduction="sum"),
            lambda p: mmdet_varifocal_loss(p, t.to(dtype).double(), gamma=1.5, iou_weighted=False).sum(),
        ),
    ]
    for ours, theirs in cases:
        pa, pb = leaf(pred.to(dtype)), leaf(pred.to(dtype).double())
        got, want = ours(pa), theirs(pb)
        assert got.dtype == dtype
        torch.testing.assert_close(got.double(), want, rtol=tol["rtol"], atol=tol["atol"] * 10)
        torch.testing.assert_close(grads(got, pa)[0].double(), grads(want, pb)[0], **tol)


# ---------------------------------------------------------------- varifocal against mmdet


@pytest.mark.parametrize("gamma", [2.0, 1.5])
@pytest.mark.parametrize("iou_weighted", [True, False])
def test_varifocal_matches_mmdet(device, iou_weighted, gamma):
    pred = torch.randn(30, 6, dtype=torch.float64, device=device) * 3
    t = vfl_target(30, 6, device)
    pa, pb = leaf(pred), leaf(pred)
    got = lossext.varifocal_loss(pa, t, None, 0.6, gamma, iou_weighted, "none")
    want = mmdet_varifocal_loss(pb, t, 0.6, gamma, iou_weighted)
    torch.testing.assert_close(got, want)
    g = torch.rand_like(want)
    torch.testing.assert_close(grads(got, pa, g)[0], grads(want, pb, g)[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_varifocal_weight_and_reduction(device, reduction):
    pred = torch.randn(20, 5, dtype=torch.float64, device=device)
    t = vfl_target(20, 5, device)
    element = mmdet_varifocal_loss(pred, t)
    for w in (
        torch.rand(20, 5, dtype=torch.float64, device=device),
        torch.rand(5, dtype=torch.float64, device=device),
        torch.rand(20, 1, dtype=torch.float64, device=device),
    ):
        got = lossext.varifocal_loss(pred, t, w, reduction=reduction)
        torch.testing.assert_close(got, mmdet_weight_reduce_loss(element, w, reduction))
        if reduction != "sum":
            got = lossext.varifocal_loss(pred, t, w, reduction=reduction, avg_factor=11.0)
            torch.testing.assert_close(got, mmdet_weight_reduce_loss(element, w, reduction, 11.0))
    # All negatives (no positive anchor in the batch).
    pa = leaf(pred)
    got = lossext.varifocal_loss(pa, torch.zeros_like(t), reduction="sum")
    want = (0.75 * pred.sigmoid() ** 2 * F.softplus(pred)).sum()
    torch.testing.assert_close(got, want)


def test_weight_gradients(device):
    pred, label, score = qfl_inputs(8, 3, device)
    w = leaf(torch.rand(8, dtype=torch.float64, device=device))
    pa = leaf(pred)
    got = lossext.quality_focal_loss(pa, (label, score), w)
    pb, wb = leaf(pred), leaf(w)
    want = mmdet_weight_reduce_loss(mmdet_quality_focal_loss(pb, label, score), wb)
    for a, b in zip(grads(got, (pa, w)), grads(want, (pb, wb))):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- against the reference, modules


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_against_reference(device, reduction):
    x = torch.randn(3, 7, 5, dtype=torch.float64, device=device)
    t = torch.rand(3, 7, 5, dtype=torch.float64, device=device)
    w, pw = (
        torch.rand(7, 1, dtype=torch.float64, device=device),
        torch.rand(5, dtype=torch.float64, device=device),
    )
    torch.testing.assert_close(
        lossext.binary_cross_entropy_with_logits(x, t, w, reduction, pw, 4.0),
        reference.binary_cross_entropy_with_logits(x, t, w, reduction, pw, 4.0),
    )
    pred, label, score = qfl_inputs(20, 5, device)
    torch.testing.assert_close(
        lossext.quality_focal_loss(pred, (label, score), None, 1.5, reduction),
        reference.quality_focal_loss(pred, (label, score), None, 1.5, reduction),
    )
    vt = vfl_target(20, 5, device)
    torch.testing.assert_close(
        lossext.varifocal_loss(pred, vt, None, 0.5, 1.0, False, reduction),
        reference.varifocal_loss(pred, vt, None, 0.5, 1.0, False, reduction),
    )


def test_modules(device):
    x, t = torch.randn(6, 4, device=device), torch.rand(6, 4, device=device)
    w, pw = torch.rand(4, device=device), torch.rand(4, device=device) * 2
    for reduction in REDUCTIONS:
        mine = lossext.nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pw)
        theirs = torch.nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pw)
        torch.testing.assert_close(mine(x, t), theirs(x, t))
    m = lossext.nn.BCEWithLogitsLoss(reduction="sum")
    torch.testing.assert_close(
        m(x, t, normalizer=2.0), F.binary_cross_entropy_with_logits(x, t, reduction="sum") / 2
    )
    assert set(dict(lossext.nn.BCEWithLogitsLoss(w, pos_weight=pw).named_buffers())) == {
        "weight",
        "pos_weight",
    }

    pred, label, score = qfl_inputs(10, 4, device, torch.float32)
    qfl = lossext.nn.QualityFocalLoss(use_sigmoid=True, beta=2.0, loss_weight=2.0)
    want = mmdet_quality_focal_loss(pred, label, score)
    torch.testing.assert_close(qfl(pred, (label, score)), 2 * want.mean())
    torch.testing.assert_close(qfl(pred, (label, score), reduction_override="sum"), 2 * want.sum())
    torch.testing.assert_close(qfl(pred, (label, score), avg_factor=3.0), 2 * want.sum() / (3.0 + EPS))
    dense = reference.bce._dense_quality_target(label, score, 4, torch.float32)
    torch.testing.assert_close(qfl(pred, dense), 2 * want.mean())
    vt = vfl_target(10, 4, device, torch.float32)
    vfl = lossext.nn.VarifocalLoss(True, 0.5, 1.5, False, "sum", 3.0)
    torch.testing.assert_close(vfl(pred, vt), 3 * mmdet_varifocal_loss(pred, vt, 0.5, 1.5, False).sum())
    with pytest.raises(ValueError, match="use_sigmoid"):
        lossext.nn.QualityFocalLoss(use_sigmoid=False)
    with pytest.raises(ValueError, match="use_sigmoid"):
        lossext.nn.VarifocalLoss(use_sigmoid=False)
    with pytest.raises(ValueError, match="activated"):
        lossext.nn.QualityFocalLoss(activated=True)


def test_deterministic(device):
    x, t = torch.randn(3000, 80, device=device), torch.rand(3000, 80, device=device)
    a = lossext.binary_cross_entropy_with_logits(x, t)
    b = lossext.binary_cross_entropy_with_logits(x, t)
    assert torch.equal(a, b)
    xa, xb = leaf(x), leaf(x)
    assert torch.equal(
        grads(lossext.varifocal_loss(xa, t * (t > 0.7)), xa)[0],
        grads(lossext.varifocal_loss(xb, t * (t > 0.7)), xb)[0],
    )


# ---------------------------------------------------------------- bad input


def test_bce_rejects_what_torch_rejects(device):
    x, t = torch.randn(4, 3, device=device), torch.rand(4, 3, device=device)
    bad = [
        dict(target=torch.rand(2, 3, device=device)),  # torch: ValueError
        dict(reduction="avg"),  # ValueError
        dict(weight=torch.rand(2, 4, 3, device=device)),  # RuntimeError: broadcasts beyond the input
        dict(weight=torch.rand(4, device=device)),  # RuntimeError
        dict(pos_weight=torch.rand(4, device=device)),  # RuntimeError
        dict(pos_weight=torch.rand(2, 4, 3, device=device)),  # RuntimeError
        dict(target=torch.ones(4, 3, dtype=torch.long, device=device)),  # RuntimeError
    ]
    for kwargs in bad:
        args = dict(input=x, target=t, **{k: v for k, v in kwargs.items() if k != "target"})
        args["target"] = kwargs.get("target", t)
        with pytest.raises(Exception) as theirs:
            F.binary_cross_entropy_with_logits(**args)
        with pytest.raises(type(theirs.value)):
            lossext.binary_cross_entropy_with_logits(**args)
    with pytest.raises(RuntimeError):
        lossext.binary_cross_entropy_with_logits(torch.tensor([1, 2]), torch.rand(2))
    with pytest.raises(TypeError, match="target"):
        lossext.binary_cross_entropy_with_logits(x, [0.0, 1.0])
    with pytest.raises(ValueError, match="normalizer"):
        lossext.binary_cross_entropy_with_logits(x, t, normalizer=torch.ones(2, device=device))


def test_focal_bad_inputs(device):
    pred, label, score = qfl_inputs(6, 3, device, torch.float32)
    q = lossext.quality_focal_loss
    with pytest.raises(ValueError, match="pred"):
        q(pred[0], (label, score))
    with pytest.raises(ValueError, match="label"):
        q(pred, (label[:4], score))
    with pytest.raises(ValueError, match="label"):
        q(pred, (label.float(), score))
    with pytest.raises(ValueError, match="score"):
        q(pred, (label, label))
    with pytest.raises(TypeError, match="target"):
        q(pred, (label,))
    with pytest.raises(ValueError, match="dense target"):
        q(pred, torch.rand(6, 4, device=device))
    with pytest.raises(ValueError, match="beta"):
        q(pred, (label, score), beta=-1.0)
    with pytest.raises(ValueError, match="avg_factor"):
        q(pred, (label, score), reduction="sum", avg_factor=2.0)
    with pytest.raises(ValueError, match="avg_factor"):
        q(pred, (label, score), avg_factor=torch.ones(2))
    with pytest.raises(ValueError, match="weight"):
        q(pred, (label, score), torch.rand(3, device=device))
    with pytest.raises(ValueError, match="Invalid reduction"):
        q(pred, (label, score), reduction="avg")
    v = lossext.varifocal_loss
    t = vfl_target(6, 3, device, torch.float32)
    with pytest.raises(ValueError, match="same shape"):
        v(pred, t[:, :2])
    with pytest.raises(ValueError, match="alpha"):
        v(pred, t, alpha=-0.5)
    with pytest.raises(ValueError, match="gamma"):
        v(pred, t, gamma=float("nan"))
    with pytest.raises(ValueError, match="weight"):
        v(pred, t, torch.rand(6, device=device))
    with pytest.raises(TypeError, match="iou_weighted"):
        v(pred, t, iou_weighted=1)
    with pytest.raises(ValueError, match="avg_factor"):
        v(pred, t, reduction="sum", avg_factor=1.0)


def test_op_checks_arguments():
    x, t = torch.randn(4, 3), torch.rand(4, 3)
    op = torch.ops.lossext.bce_fwd
    with pytest.raises(ValueError, match="input must have shape"):
        op(x[0], t[0], None, None, None, 0, 0.75, 2.0, True, False)
    with pytest.raises(ValueError, match="kind"):
        op(x, t, None, None, None, 3, 0.75, 2.0, True, False)
    with pytest.raises(ValueError, match="label is quality focal"):
        op(x, t[:, 0], torch.zeros(4, dtype=torch.long), None, None, 0, 0.75, 2.0, True, False)
    with pytest.raises(ValueError, match="pos_weight is BCE"):
        op(x, t, None, None, torch.ones(3), 2, 0.75, 2.0, True, False)
    with pytest.raises(ValueError, match="weight of shape"):
        op(x, t, None, torch.ones(4), None, 0, 0.75, 2.0, True, False)
    with pytest.raises(ValueError, match="exponent"):
        op(x, t, None, None, None, 1, 0.75, -1.0, True, False)
    with pytest.raises(TypeError, match="target must have the dtype"):
        op(x, t.double(), None, None, None, 0, 0.75, 2.0, True, False)
    with pytest.raises(ValueError, match="target's gradient"):
        torch.ops.lossext.bce_bwd(torch.ones(4, 3), x, t, None, None, None, 2, 0.75, 2.0, True, False, True)
