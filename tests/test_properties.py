"""Property tier: every fused op against its pure-torch reference (the same
call with the kernels switched off) over random shapes, options, dtypes and
memory layouts; values, first gradients, and for float64 the gradient of a
gradient penalty (second derivatives).

Hypothesis runs derandomized (a fixed seed per test), so CI is repeatable.
The default budget keeps the tier to a couple of minutes; set
LOSSEXT_PROPERTY_EXAMPLES (examples per family, default 200, about 20 s) for a longer run.
"""

import os

import pytest
import torch

import lossext
from tests.grad_cases import kernels_off

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("LOSSEXT_PROPERTY_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOL = {
    torch.float64: dict(rtol=1e-7, atol=1e-9),
    torch.float32: dict(rtol=2e-4, atol=2e-5),
    torch.bfloat16: dict(rtol=2e-2, atol=2e-2),
    torch.float16: dict(rtol=4e-3, atol=4e-3),
}


def _tensor(draw, shape, dtype, low=-3.0, high=3.0):
    """Values from a drawn seed, in a drawn memory layout."""
    seed = draw(st.integers(0, 2**31 - 1))
    layout = draw(st.sampled_from(["contiguous", "transposed", "strided"]))
    g = torch.Generator().manual_seed(seed)
    if layout == "transposed" and len(shape) >= 2:
        base = torch.rand(*shape[::-1], generator=g, dtype=torch.float64).permute(
            *range(len(shape) - 1, -1, -1)
        )
    elif layout == "strided" and len(shape) >= 1:
        base = torch.rand(*shape[:-1], 2 * shape[-1], generator=g, dtype=torch.float64)[..., ::2]
    else:
        base = torch.rand(*shape, generator=g, dtype=torch.float64)
    assert tuple(base.shape) == tuple(shape)
    return (base * (high - low) + low).to(dtype)


def _index(draw, shape, classes, ignore=None):
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, shape, generator=g)
    if ignore is not None and y.numel():
        y = torch.where(torch.rand(shape, generator=g) < 0.2, torch.full_like(y, ignore), y)
    return y


def _weight(draw, classes):
    if not draw(st.booleans()):
        return None
    return _tensor(draw, (classes,), torch.float64, 0.2, 2.0).contiguous()


dtypes = st.sampled_from([torch.float64, torch.float32, torch.bfloat16, torch.float16])
reductions = st.sampled_from(["none", "mean", "sum"])


@st.composite
def cross_entropy_calls(draw):
    n, c = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    dtype = draw(dtypes)
    x = _tensor(draw, (n, c, *spatial), dtype)
    w = _weight(draw, c)
    kw = dict(
        reduction=draw(reductions),
        label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.7])),
        z_loss=draw(st.sampled_from([0.0, 1e-3])),
    )
    if draw(st.booleans()):
        y = _index(draw, (n, *spatial), c, ignore=-100)
        kw["weight"] = None if w is None else w.to(dtype)
    else:
        y = torch.softmax(_tensor(draw, (n, c, *spatial), torch.float64), 1).to(dtype)
    return lambda z: lossext.cross_entropy(z, y, **kw), x


@st.composite
def focal_calls(draw):
    n, c = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dtype = draw(dtypes)
    x = _tensor(draw, (n, c), dtype, -6.0, 6.0)
    gamma = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 2.5]))
    w = _weight(draw, c)
    if draw(st.booleans()):
        alpha = draw(st.sampled_from([-1.0, 0.25, 0.9]))
        if draw(st.booleans()):
            t = _tensor(draw, (n, c), torch.float64, 0.0, 1.0).to(dtype)
        else:
            t = _index(draw, (n,), c + 1) - 1  # -1: background
            if draw(st.booleans()):
                t[0] = -100
        kw = dict(
            alpha=alpha,
            gamma=gamma,
            reduction=draw(reductions),
            weight=w,
            label_smoothing=draw(st.sampled_from([0.0, 0.1])),
        )
        return lambda z: lossext.sigmoid_focal_loss(z, t, **kw), x
    y = _index(draw, (n,), c, ignore=-100)
    alpha = draw(st.sampled_from([None, 0.25, "tensor"]))
    if alpha == "tensor":
        alpha = _tensor(draw, (c,), torch.float64, 0.0, 1.0).contiguous()
    kw = dict(alpha=alpha, gamma=gamma, weight=w, reduction=draw(reductions))
    return lambda z: lossext.softmax_focal_loss(z, y, **kw), x


@st.composite
def elementwise_calls(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    dtype = draw(dtypes)
    x = _tensor(draw, shape, dtype)
    kind = draw(st.sampled_from(["smooth_l1", "huber", "kl_div", "js_div"]))
    reduction = draw(reductions)
    if kind in ("smooth_l1", "huber"):
        t = _tensor(draw, shape, dtype)
        param = (
            draw(st.sampled_from([0.0, 0.3, 1.0]))
            if kind == "smooth_l1"
            else draw(st.sampled_from([0.3, 1.0]))
        )
        fn = lossext.smooth_l1_loss if kind == "smooth_l1" else lossext.huber_loss
        return lambda z: fn(z, t, reduction, param), x
    log_target = draw(st.booleans())
    t = _tensor(draw, shape, dtype, -4.0, 0.0)
    if not log_target:
        t = t.exp()
    x = _tensor(draw, shape, dtype, -4.0, 0.0)
    if kind == "kl_div":
        red = draw(st.sampled_from(["mean", "sum", "batchmean"]))
        return lambda z: lossext.kl_div(z, t, red, log_target), x
    beta = draw(st.sampled_from([0.1, 0.5, 0.9]))
    red = draw(st.sampled_from(["mean", "sum", "batchmean"]))
    return lambda z: lossext.js_div(z, t, beta, red, log_target), x


@st.composite
def box_calls(draw):
    n = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    corner = _tensor(draw, (n, 2), torch.float64, 0.0, 6.0)
    size = _tensor(draw, (n, 2), torch.float64, 0.3, 4.0)
    b1 = torch.cat([corner, corner + size], 1).to(dtype)
    corner2 = corner + _tensor(draw, (n, 2), torch.float64, -1.0, 1.0)
    b2 = torch.cat([corner2, corner2 + _tensor(draw, (n, 2), torch.float64, 0.3, 4.0)], 1).to(dtype)
    mode = draw(st.sampled_from(["iou", "giou", "diou", "ciou", "eiou", "siou"]))
    kw = dict(mode=mode, reduction=draw(reductions), eps=draw(st.sampled_from([1e-7, 1e-3])))
    return lambda z: lossext.box_iou_loss(z, b2, **kw), b1


@st.composite
def image_calls(draw):
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dtype = draw(dtypes)
    x = _tensor(draw, (*lead, h, w), dtype)
    reduction = draw(st.sampled_from(["sum", "mean"]))
    if draw(st.booleans()):
        beta, eps = draw(st.sampled_from([1.0, 1.5, 2.0])), draw(st.sampled_from([0.0, 0.1]))
        return lambda z: lossext.total_variation_loss(z, reduction, True, beta, eps), x
    return lambda z: lossext.total_variation_loss(z, reduction), x


@st.composite
def segmentation_calls(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    dtype = draw(dtypes)
    x = _tensor(draw, (n, c, *spatial), dtype)
    kind = draw(st.sampled_from(["dice", "jaccard", "tversky", "dice_ce"]))
    ignore = draw(st.sampled_from([None, 255]))
    kw = dict(
        smooth=draw(st.sampled_from([0.0, 1.0])),
        ignore_index=ignore,
        per_image=draw(st.booleans()),
        empty_classes=draw(st.sampled_from(["mask", "count"])),
    )
    if kind == "dice_ce":
        y = _index(draw, (n, *spatial), c, ignore=ignore)
        w = _weight(draw, c)
        return lambda z: lossext.dice_ce_loss(z, y, weight=w, label_smoothing=0.1, **kw), x
    if draw(st.booleans()):
        mode, y = "multiclass", _index(draw, (n, *spatial), c, ignore=ignore)
    else:
        mode = "multilabel"
        y = (_tensor(draw, (n, c, *spatial), torch.float64, 0.0, 1.0) > 0.5).to(dtype)
    kw["reduction"] = draw(reductions)
    kw["log_loss"] = draw(st.booleans())
    if kind == "tversky":
        gamma = draw(st.sampled_from([1.0, 1.5]))
        return lambda z: lossext.tversky_loss(z, y, mode, alpha=0.3, beta=0.7, gamma=gamma, **kw), x
    kw["squared_pred"] = draw(st.booleans())
    f = lossext.dice_loss if kind == "dice" else lossext.jaccard_loss
    return lambda z: f(z, y, mode, **kw), x


def _value_grad_penalty(fn, x, second):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    if second:
        (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        if not g.requires_grad:  # a loss linear in x (KL): no second derivative
            return out.detach(), g.detach(), None
        (penalty,) = torch.autograd.grad((g * g).sum(), x, allow_unused=True)
        return out.detach(), g.detach(), penalty
    (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), g, None


def _close(got, want, rtol, atol):
    """Equal where the reference is finite (and finite there). Where the
    reference is not, the kernels may be finite: torch's pow has an infinite
    derivative at 0, which the focal kernels take as its limit (documented);
    nan propagation itself is tested in test_gradient_edge_cases."""
    got, want = got.double(), want.double()
    finite = torch.isfinite(want)
    scale = max(1.0, float(want[finite].abs().max())) if finite.any() else 1.0
    torch.testing.assert_close(got[finite], want[finite], rtol=rtol, atol=atol * scale)


def _check(call):
    fn, x = call
    second = x.dtype == torch.float64
    got = _value_grad_penalty(fn, x, second)
    with kernels_off():
        want = _value_grad_penalty(fn, x, second)
    tol = TOL[x.dtype]
    assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
    _close(got[0], want[0], **tol)
    _close(got[1], want[1], **tol)
    if second:
        if want[2] is None or got[2] is None:
            assert (want[2] is None or not want[2].any()) and (got[2] is None or not got[2].any())
        else:
            _close(got[2], want[2], rtol=1e-6, atol=1e-8)


FAMILIES = {
    "cross_entropy": cross_entropy_calls,
    "focal": focal_calls,
    "elementwise": elementwise_calls,
    "box": box_calls,
    "total_variation": image_calls,
    "segmentation": segmentation_calls,
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fused_matches_reference(family):
    @SETTINGS
    @given(FAMILIES[family]())
    def run(call):
        _check(call)

    run()
