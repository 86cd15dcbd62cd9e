"""Dice / Jaccard / Tversky / Dice+CE: fused kernels against the one-hot
reference, smp's formulas checked by hand-computed values, options, dtypes,
spatial ranks, gradients, ops, compile, determinism and bad inputs."""

import math

import pytest
import torch
import torch.nn.functional as F
from tests.conftest import tolerances

import lossext
from lossext import reference

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
KINDS = {
    "dice": (lossext.dice_loss, reference.dice_loss),
    "jaccard": (lossext.jaccard_loss, reference.jaccard_loss),
    "tversky": (lossext.tversky_loss, reference.tversky_loss),
}
SPATIAL = [(17,), (9, 13), (3, 5, 6)]
pytestmark = pytest.mark.filterwarnings("ignore::lossext.LossextFallbackWarning")

needs_kernels = pytest.mark.skipif(not lossext.build_info()["cpu_kernels"], reason="no compiled kernels")


def make_inputs(mode, n, c, spatial, dtype, device, ignore_index=None, scale=3.0):
    x = (scale * torch.randn(n, c, *spatial, device=device)).to(dtype)
    if mode == "multiclass":
        t = torch.randint(0, c, (n, *spatial), device=device)
        if ignore_index is not None:
            t[torch.rand(t.shape, device=device) < 0.2] = ignore_index
    else:
        t = (torch.rand(n, c, *spatial, device=device) > 0.6).to(dtype)
        if ignore_index is not None:
            t[torch.rand(t.shape, device=device) < 0.2] = ignore_index
    return x, t


def value_and_grad(fn, x, *args, **kwargs):
    x = x.detach().requires_grad_(True)
    out = fn(x, *args, **kwargs)
    (g,) = torch.autograd.grad(out, x, torch.ones_like(out))
    return out.detach(), g


def check_against_reference(fn, ref, x, t, *args, **kwargs):
    got, g_got = value_and_grad(fn, x, t, *args, **kwargs)
    want, g_want = value_and_grad(
        ref, x.double(), t if not t.is_floating_point() else t.double(), *args, **kwargs
    )
    tol = tolerances(x.dtype)
    torch.testing.assert_close(got.double(), want, **tol)
    # Gradients are O(1 / pixels); compare relative to their scale.
    scale = g_want.abs().max().clamp_min(1e-12)
    torch.testing.assert_close(g_got.double() / scale, g_want / scale, **tol)


# ---------------------------------------------------------------- against the reference


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial", SPATIAL, ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_matches_reference(kind, mode, spatial, dtype, device):
    fn, ref = KINDS[kind]
    c = 1 if mode == "binary" else 5
    x, t = make_inputs(mode, 3, c, spatial, dtype, device, ignore_index=255 if mode == "multiclass" else None)
    kwargs = dict(ignore_index=255) if mode == "multiclass" else {}
    if kind == "tversky":
        kwargs.update(alpha=0.3, beta=0.7, gamma=1.5)
    check_against_reference(fn, ref, x, t, mode, **kwargs)


OPTIONS = [
    dict(),
    dict(log_loss=True),
    dict(smooth=1.0),
    dict(per_image=True),
    dict(classes=[0, 2, 3]),
    dict(empty_classes="count", smooth=0.5),
    dict(per_image=True, empty_classes="count", smooth=1e-5),
    dict(weight="rand"),
    dict(reduction="none"),
    dict(reduction="none", per_image=True, classes=[1]),
    dict(reduction="sum", log_loss=True),
    dict(from_logits=False),
    dict(ignore_index=-1),
    dict(squared_pred=True),
    dict(squared_pred=True, per_image=True, smooth=1.0),
]


def _resolve(opts, c, device, kind):
    opts = dict(opts)
    if opts.get("weight") == "rand":
        opts["weight"] = torch.rand(c, device=device, dtype=torch.float64)
    if kind == "tversky":
        if opts.pop("squared_pred", False):
            return None
        opts.update(alpha=0.7, beta=0.3)
    return opts


@pytest.mark.parametrize(
    "opts", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "default"
)
@pytest.mark.parametrize("mode", ["multiclass", "multilabel"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_options(kind, mode, opts, device):
    fn, ref = KINDS[kind]
    opts = _resolve(opts, 6, device, kind)
    if opts is None:
        pytest.skip("squared_pred is a Dice/Jaccard option")
    x, t = make_inputs(mode, 4, 6, (7, 5), torch.float64, device, ignore_index=opts.get("ignore_index"))
    # Some classes absent from some samples and from the whole batch.
    if mode == "multiclass":
        t[t == 4] = 0
        t[1][t[1] == 2] = 3
    else:
        t[:, 4] = 0
        t[1, 2] = 0
    if opts.get("from_logits") is False:
        x = x.softmax(1) if mode == "multiclass" else x.sigmoid()
    check_against_reference(fn, ref, x, t, mode, **opts)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "opts",
    [
        dict(),
        dict(label_smoothing=0.2, ignore_index=255),
        dict(per_image=True, lambda_dice=0.5, lambda_ce=2.0, squared_pred=True, classes=[0, 1]),
        dict(weight=[0.5, 2.0, 1.0, 0.25], ignore_index=255, label_smoothing=0.1),
    ],
)
def test_dice_ce_matches_reference(opts, dtype, device):
    x, t = make_inputs("multiclass", 2, 4, (6, 7), dtype, device, ignore_index=opts.get("ignore_index"))
    if "weight" in opts:
        opts = {**opts, "weight": torch.tensor(opts["weight"], device=device)}
    check_against_reference(lossext.dice_ce_loss, reference.dice_ce_loss, x, t, **opts)


def test_large_image_multichunk(device):
    # More pixels than one CPU work chunk and one CUDA block, a ragged tail.
    x, t = make_inputs("multiclass", 2, 19, (73, 131), torch.float32, device, ignore_index=255)
    check_against_reference(lossext.dice_loss, reference.dice_loss, x, t, "multiclass", ignore_index=255)
    xm, tm = make_inputs("multilabel", 2, 3, (73, 131), torch.float32, device)
    check_against_reference(
        lossext.tversky_loss, reference.tversky_loss, xm, tm, "multilabel", alpha=0.2, beta=0.8
    )


def test_binary_target_without_channel(device):
    x = torch.randn(3, 1, 8, 8, device=device)
    t = (torch.rand(3, 8, 8, device=device) > 0.5).float()
    torch.testing.assert_close(
        lossext.dice_loss(x, t, "binary"), lossext.dice_loss(x, t.unsqueeze(1), "binary")
    )
    torch.testing.assert_close(lossext.dice_loss(x, t.bool(), "binary"), lossext.dice_loss(x, t, "binary"))


def test_non_contiguous_input(device):
    x, t = make_inputs("multiclass", 2, 5, (6, 7), torch.float32, device)
    xc = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(lossext.dice_loss(xc, t, "multiclass"), lossext.dice_loss(x, t, "multiclass"))
    xs = torch.randn(2, 10, 6, 7, device=device)[:, ::2]
    check_against_reference(lossext.dice_loss, reference.dice_loss, xs, t, "multiclass")


def test_soft_multilabel_targets(device):
    x = torch.randn(2, 3, 5, 5, device=device, dtype=torch.float64)
    t = torch.rand(2, 3, 5, 5, device=device, dtype=torch.float64)
    check_against_reference(lossext.dice_loss, reference.dice_loss, x, t, "multilabel", squared_pred=True)


# ---------------------------------------------------------------- smp formulas by hand


def test_hand_values_binary():
    # p = [0.9, 0.2, 0.6, 0.1], t = [1, 0, 1, 1]: TP = 1.6, P = 1.8, T = 3,
    # FP = 0.2, FN = 1.4.
    p = torch.tensor([0.9, 0.2, 0.6, 0.1], dtype=torch.float64).view(1, 1, 4)
    t = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64).view(1, 1, 4)
    logits = torch.logit(p)
    for fn in (lossext, reference):
        assert math.isclose(
            float(fn.dice_loss(p, t, "binary", from_logits=False)), 1 - 3.2 / 4.8, rel_tol=1e-12
        )
        assert math.isclose(float(fn.dice_loss(logits, t, "binary")), 1 - 3.2 / 4.8, rel_tol=1e-9)
        assert math.isclose(
            float(fn.jaccard_loss(p, t, "binary", from_logits=False)), 1 - 1.6 / 3.2, rel_tol=1e-12
        )
        assert math.isclose(
            float(fn.dice_loss(p, t, "binary", from_logits=False, log_loss=True)),
            -math.log(3.2 / 4.8),
            rel_tol=1e-12,
        )
        tv = fn.tversky_loss(p, t, "binary", from_logits=False, alpha=0.3, beta=0.7, gamma=2.0)
        assert math.isclose(float(tv), (1 - 1.6 / (1.6 + 0.3 * 0.2 + 0.7 * 1.4)) ** 2, rel_tol=1e-12)
        # Dice is Tversky at alpha = beta = 1/2, smoothing included (the catalogue,
        # smp 0.6): (TP + s) / (TP + FP/2 + FN/2 + s) = (1.6 + 1) / (1.6 + 0.1 + 0.7 + 1).
        assert math.isclose(
            float(fn.dice_loss(p, t, "binary", from_logits=False, smooth=1.0)), 1 - 2.6 / 3.4, rel_tol=1e-12
        )


def test_hand_values_multiclass_masked_mean():
    # Two pixels, three classes; class 2 absent from the target.
    p = torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]], dtype=torch.float64).t().reshape(1, 3, 2)
    y = torch.tensor([[0, 1]])
    d0 = 2 * 0.7 / (1.0 + 1)  # TP 0.7, P 1.0, T 1
    d1 = 2 * 0.3 / (0.5 + 1)  # TP 0.3, P 0.5, T 1
    d2_count = 0.0  # TP 0, P 0.5, T 0 -> score 0, loss 1
    for fn in (lossext, reference):
        got = fn.dice_loss(p, y, "multiclass", from_logits=False)
        assert math.isclose(
            float(got), ((1 - d0) + (1 - d1) + 0.0) / 3, rel_tol=1e-12
        )  # masked, still counted
        got = fn.dice_loss(p, y, "multiclass", from_logits=False, empty_classes="count")
        assert math.isclose(float(got), ((1 - d0) + (1 - d1) + (1 - d2_count)) / 3, rel_tol=1e-12)
        got = fn.dice_loss(p, y, "multiclass", from_logits=False, classes=[1, 2])
        assert math.isclose(float(got), ((1 - d1) + 0.0) / 2, rel_tol=1e-12)
        w = torch.tensor([2.0, 0.5, 1.0], dtype=torch.float64)
        got = fn.dice_loss(p, y, "multiclass", from_logits=False, weight=w)
        assert math.isclose(float(got), (2 * (1 - d0) + 0.5 * (1 - d1)) / 3, rel_tol=1e-12)


def test_multiclass_softmax_is_log_softmax_exp():
    x = torch.randn(2, 4, 10, dtype=torch.float64)
    y = torch.randint(0, 4, (2, 10))
    p = x.log_softmax(1).exp()
    torch.testing.assert_close(
        lossext.dice_loss(x, y, "multiclass"), lossext.dice_loss(p, y, "multiclass", from_logits=False)
    )


# ---------------------------------------------------------------- hand cases


@pytest.mark.parametrize("kind", list(KINDS))
def test_perfect_and_complete_miss(kind, device):
    fn, _ = KINDS[kind]
    y = torch.randint(0, 4, (2, 6, 6), device=device)
    one_hot = F.one_hot(y, 4).permute(0, 3, 1, 2).double()
    kw = dict(alpha=0.4, beta=0.6) if kind == "tversky" else {}
    assert float(fn(one_hot, y, "multiclass", from_logits=False, **kw)) == pytest.approx(0.0, abs=1e-12)
    assert float(fn(100 * (2 * one_hot - 1), y, "multiclass", **kw)) == pytest.approx(0.0, abs=1e-6)
    # Every pixel predicted as the wrong class: TP = 0 for every present class.
    wrong = F.one_hot((y + 1) % 4, 4).permute(0, 3, 1, 2).double()
    assert float(fn(wrong, y, "multiclass", from_logits=False, **kw)) == pytest.approx(1.0, abs=1e-12)
    t = one_hot
    assert float(fn(t, t, "multilabel", from_logits=False, **kw)) == pytest.approx(0.0, abs=1e-12)
    assert float(fn(1 - t, t, "multilabel", from_logits=False, **kw)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_ignored_pixels_change_nothing(mode, device):
    c = 1 if mode == "binary" else 4
    x, t = make_inputs(mode, 2, c, (5, 6), torch.float64, device)
    base = value_and_grad(lossext.dice_loss, x, t, mode, ignore_index=77)
    # Append ignored pixels with arbitrary logits: same loss, zero gradient there.
    x2 = torch.cat([x, 50 * torch.randn_like(x)], dim=-1)
    t2 = torch.cat([t, torch.full_like(t, 77)], dim=-1)
    loss2, g2 = value_and_grad(lossext.dice_loss, x2, t2, mode, ignore_index=77)
    torch.testing.assert_close(loss2, base[0])
    torch.testing.assert_close(g2[..., :6], base[1])
    assert torch.all(g2[..., 6:] == 0)


def test_all_ignored(device):
    x = torch.randn(2, 3, 4, device=device, requires_grad=True)
    y = torch.full((2, 4), 255, device=device)
    loss = lossext.dice_loss(x, y, "multiclass", ignore_index=255)
    assert float(loss) == 0.0  # every class is empty and masked
    (g,) = torch.autograd.grad(loss, x)
    assert torch.all(g == 0)
    assert math.isnan(float(lossext.dice_ce_loss(x, y, ignore_index=255)))  # CE mean over no pixels, as torch


def test_empty_class_rule_count_with_smooth(device):
    # A class absent from the target and not predicted scores 1 under 'count'
    # (loss 0); predicted mass on it costs about 1.
    x = torch.tensor([[[-30.0, -30.0]], [[30.0, 30.0]]], device=device, dtype=torch.float64).reshape(1, 2, 2)
    y = torch.tensor([[1, 1]], device=device)
    loss = lossext.dice_loss(x, y, "multiclass", empty_classes="count", smooth=1e-5, classes=[0])
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    x[:, 0] = 30.0
    x[:, 1] = -30.0
    loss = lossext.dice_loss(x, y, "multiclass", empty_classes="count", smooth=1e-5, classes=[0])
    assert float(loss) == pytest.approx(1.0, abs=1e-4)
    assert float(lossext.dice_loss(x, y, "multiclass", classes=[0])) == 0.0  # 'mask'


def test_huge_logits_and_nan(device):
    x = torch.tensor([1e30, -1e30, 0.0], device=device).view(1, 3, 1).repeat(2, 1, 4)
    y = torch.zeros(2, 4, dtype=torch.long, device=device)
    loss, g = value_and_grad(lossext.dice_loss, x, y, "multiclass")
    assert torch.isfinite(loss) and torch.isfinite(g).all()
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    x[0, 1, 0] = float("nan")
    assert math.isnan(float(lossext.dice_loss(x, y, "multiclass")))


def test_empty_inputs(device):
    x = torch.randn(2, 3, 0, device=device, requires_grad=True)
    y = torch.zeros(2, 0, dtype=torch.long, device=device)
    got = lossext.dice_loss(x, y, "multiclass")
    want = reference.dice_loss(x, y, "multiclass")
    torch.testing.assert_close(got, want)
    (g,) = torch.autograd.grad(got, x)
    assert g.shape == x.shape


# ---------------------------------------------------------------- gradcheck, ops, compile, determinism


@pytest.mark.parametrize(
    "case", ["dice-mc", "jaccard-ml-sq", "tversky-bin", "dice-mc-perimage-log", "dice_ce", "dice-mc-identity"]
)
def test_gradcheck(case, device):
    x = torch.randn(2, 3, 4, 3, dtype=torch.float64, device=device, requires_grad=True)
    y = torch.randint(0, 3, (2, 4, 3), device=device)
    y[0, 0, 0] = 9
    tm = (torch.rand(2, 3, 4, 3, dtype=torch.float64, device=device) > 0.5).double()
    fns = {
        "dice-mc": lambda x: lossext.dice_loss(x, y, "multiclass", ignore_index=9, smooth=0.1),
        "jaccard-ml-sq": lambda x: lossext.jaccard_loss(x, tm, "multilabel", squared_pred=True, smooth=0.1),
        "tversky-bin": lambda x: lossext.tversky_loss(
            x[:, :1], tm[:, :1], "binary", alpha=0.2, beta=0.8, gamma=1.3
        ),
        "dice-mc-perimage-log": lambda x: lossext.dice_loss(
            x, y, "multiclass", ignore_index=9, log_loss=True, per_image=True, reduction="none"
        ),
        "dice_ce": lambda x: lossext.dice_ce_loss(x, y, ignore_index=9, label_smoothing=0.1, smooth=0.1),
        "dice-mc-identity": lambda x: lossext.dice_loss(
            x.sigmoid(), y, "multiclass", ignore_index=9, from_logits=False, squared_pred=True
        ),
    }
    assert torch.autograd.gradcheck(fns[case], (x,))


def test_compile_fullgraph(device):
    x, y = make_inputs("multiclass", 2, 5, (8, 8), torch.float32, device, ignore_index=255)
    tm = (torch.rand(2, 5, 8, 8, device=device) > 0.5).float()

    def step(x):
        a = lossext.dice_loss(x, y, "multiclass", ignore_index=255, classes=[0, 2, 4])
        b = lossext.tversky_loss(x, tm, "multilabel", alpha=0.3, beta=0.7, gamma=2.0, per_image=True)
        c = lossext.dice_ce_loss(x, y, ignore_index=255, label_smoothing=0.1)
        return a + b + c

    compiled = torch.compile(step, fullgraph=True)
    got, g_got = value_and_grad(compiled, x)
    want, g_want = value_and_grad(step, x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g_got, g_want)


@needs_kernels
def test_cpu_deterministic_across_thread_counts():
    x, y = make_inputs("multiclass", 2, 7, (91, 97), torch.float32, "cpu", ignore_index=255)
    tm = (torch.rand(2, 7, 91, 97) > 0.5).float()
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            a = value_and_grad(lossext.dice_ce_loss, x, y, ignore_index=255)
            b = value_and_grad(lossext.dice_loss, x, tm, "multilabel")
            results.append((*a, *b))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert all(torch.equal(u, v) for u, v in zip(results[0], other))


def test_modules(device):
    x, y = make_inputs("multiclass", 2, 4, (6, 6), torch.float32, device, ignore_index=255)
    w = torch.rand(4, device=device)
    cases = [
        (
            lossext.nn.DiceLoss("multiclass", [0, 1], True, True, 0.5, 255, 1e-6, weight=w),
            lossext.dice_loss(x, y, "multiclass", [0, 1], True, True, 0.5, 255, 1e-6, weight=w),
        ),
        (
            lossext.nn.JaccardLoss("multiclass", None, False, True, 0.0, 255, 1e-7),
            lossext.jaccard_loss(x, y, "multiclass", ignore_index=255),
        ),
        (
            lossext.nn.TverskyLoss("multiclass", None, False, True, 0.0, 255, 1e-7, 0.3, 0.7, 2.0),
            lossext.tversky_loss(x, y, "multiclass", ignore_index=255, alpha=0.3, beta=0.7, gamma=2.0),
        ),
        (
            lossext.nn.DiceCrossEntropyLoss(ignore_index=255, lambda_ce=0.5, label_smoothing=0.1),
            lossext.dice_ce_loss(x, y, ignore_index=255, lambda_ce=0.5, label_smoothing=0.1),
        ),
    ]
    for module, want in cases:
        torch.testing.assert_close(module(x, y), want)


# ---------------------------------------------------------------- bad inputs


def test_bad_inputs(device):
    x = torch.randn(2, 3, 4, 4, device=device)
    y = torch.randint(0, 3, (2, 4, 4), device=device)
    tm = torch.rand(2, 3, 4, 4, device=device)
    with pytest.raises(ValueError, match="mode"):
        lossext.dice_loss(x, y, "multi")
    with pytest.raises(TypeError, match="integer class-index"):
        lossext.dice_loss(x, tm[:, 0], "multiclass")
    with pytest.raises(TypeError, match="integer class-index"):
        lossext.dice_loss(x, y.bool(), "multiclass")
    with pytest.raises(ValueError, match="target must have shape"):
        lossext.dice_loss(x, y[:, :3], "multiclass")
    with pytest.raises(ValueError, match="target must have shape"):
        lossext.dice_loss(x, y.transpose(0, 1), "multiclass")
    with pytest.raises(ValueError, match="target must have shape"):
        lossext.dice_loss(x, tm[:, :2], "multilabel")
    with pytest.raises(ValueError, match=r"\(N, 1, d1"):
        lossext.dice_loss(x, tm, "binary")
    with pytest.raises(ValueError, match="classes cannot"):
        lossext.dice_loss(x[:, :1], tm[:, :1], "binary", classes=[0])
    with pytest.raises(ValueError, match="classes must lie"):
        lossext.dice_loss(x, y, "multiclass", classes=[3])
    with pytest.raises(TypeError, match="input must be a floating"):
        lossext.dice_loss(y, y, "multiclass")
    with pytest.raises(ValueError, match="empty_classes"):
        lossext.dice_loss(x, y, "multiclass", empty_classes="skip")
    with pytest.raises(ValueError, match="weight must be a 1-D tensor of length C = 3"):
        lossext.dice_loss(x, y, "multiclass", weight=torch.ones(4, device=device))
    with pytest.raises(ValueError, match="smooth"):
        lossext.dice_loss(x, y, "multiclass", smooth=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        lossext.tversky_loss(x, y, "multiclass", gamma=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        lossext.dice_ce_loss(x, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        lossext.dice_loss(x, y, "multiclass", reduction="batchwise")
    with pytest.raises(ValueError, match="input must have shape"):
        lossext.dice_loss(x[0, 0, 0], y[0, 0], "multiclass")


def test_out_of_range_index_raises_on_cpu():
    x = torch.randn(2, 3, 4)
    y = torch.randint(0, 3, (2, 4))
    y[1, 2] = 3
    for fn in (lossext.dice_loss, reference.dice_loss):
        with pytest.raises(IndexError, match="outside"):
            fn(x, y, "multiclass")
    y[1, 2] = -100
    with pytest.raises(IndexError, match="outside"):
        lossext.dice_loss(x, y, "multiclass")  # -100 is not ignored unless ignore_index says so
    with pytest.raises(IndexError, match="outside"):
        lossext.dice_ce_loss(x, y, ignore_index=255)
    lossext.dice_loss(x, y, "multiclass", ignore_index=-100)


@pytest.mark.cuda
def test_out_of_range_index_is_nan_on_cuda():
    x = torch.randn(2, 3, 4, device="cuda")
    y = torch.randint(0, 3, (2, 4), device="cuda")
    y[1, 2] = 7
    assert math.isnan(float(lossext.dice_loss(x, y, "multiclass")))


# ---------------------------------------------------------------- MONAI's conventions (when installed)


@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize("squared_pred", [False, True])
def test_count_rule_matches_monai(batch, squared_pred):
    monai_losses = pytest.importorskip("monai.losses")
    x = torch.randn(3, 4, 6, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (3, 6, 5))  # class 3 absent everywhere
    w = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)
    want = monai_losses.DiceLoss(
        softmax=True,
        to_onehot_y=True,
        batch=batch,
        squared_pred=squared_pred,
        smooth_nr=1e-5,
        smooth_dr=1e-5,
        weight=w,
    )(x, y.unsqueeze(1))
    # MONAI's (2 TP + s) / (P + T + s) with s = 1e-5 is lossext's (TP + s') / ((P + T) / 2 + s') at s' = s / 2.
    got = lossext.dice_loss(
        x,
        y,
        "multiclass",
        smooth=0.5e-5,
        empty_classes="count",
        per_image=not batch,
        squared_pred=squared_pred,
        weight=w,
    )
    torch.testing.assert_close(got, want.to(got.dtype))
    want = monai_losses.DiceCELoss(
        softmax=True,
        to_onehot_y=True,
        batch=batch,
        lambda_dice=0.7,
        lambda_ce=1.3,
        smooth_nr=1e-5,
        smooth_dr=1e-5,
        label_smoothing=0.1,
    )(x, y.unsqueeze(1))
    got = lossext.dice_ce_loss(
        x,
        y,
        smooth=0.5e-5,
        empty_classes="count",
        per_image=not batch,
        lambda_dice=0.7,
        lambda_ce=1.3,
        label_smoothing=0.1,
    )
    torch.testing.assert_close(got, want.to(got.dtype))
    # MONAI passes weight to both terms.
    want = monai_losses.DiceCELoss(
        softmax=True, to_onehot_y=True, batch=batch, smooth_nr=1e-5, smooth_dr=1e-5, weight=w
    )(x, y.unsqueeze(1))
    got = lossext.dice_ce_loss(x, y, smooth=0.5e-5, empty_classes="count", per_image=not batch, weight=w)
    torch.testing.assert_close(got, want.to(got.dtype))


# ---------------------------------------------------------------- against smp's own code
def _smp():
    from benchmarks.peers import smp_losses

    losses = smp_losses()
    if losses is None:
        pytest.skip("segmentation_models_pytorch is not installed")
    return losses


SMP_CASES = [
    ("dice", "multiclass", dict()),
    ("dice", "multiclass", dict(ignore_index=255, smooth=0.5, classes=[0, 2])),
    ("dice", "multiclass", dict(log_loss=True, class_weights=[1.0, 0.5, 2.0, 0.0])),
    ("dice", "multilabel", dict(ignore_index=255, eps=1e-4)),
    ("dice", "binary", dict(from_logits=False, smooth=1.0)),
    ("jaccard", "multiclass", dict(ignore_index=255, class_weights=[0.2, 1.0, 1.0, 3.0], classes=[1, 2, 3])),
    ("jaccard", "multilabel", dict(log_loss=True, smooth=0.1)),
    ("jaccard", "binary", dict(ignore_index=255)),
    ("tversky", "multiclass", dict(alpha=0.3, beta=0.7, gamma=1.5, ignore_index=255)),
    ("tversky", "multilabel", dict(alpha=0.7, beta=0.3, gamma=0.75, class_weights=[1.0, 2.0, 0.5, 1.0])),
    ("tversky", "binary", dict(smooth=0.3, from_logits=False)),
]


@pytest.mark.parametrize("kind,mode,opts", SMP_CASES)
def test_matches_smp(kind, mode, opts, device):
    """The values and gradients of segmentation_models_pytorch's own losses
    (0.6: class_weights, Jaccard's ignore_index), constructed with the same
    arguments as the lossext module."""
    smp = _smp()
    torch.manual_seed(7)
    c = 1 if mode == "binary" else 4
    x = torch.randn(3, c, 9, 11, dtype=torch.float64, device=device)
    if mode == "multiclass":
        t = torch.randint(0, c, (3, 9, 11), device=device)
        t[t == 3] = 0  # a class absent from the target, masked by both
        if "ignore_index" in opts:
            t[:, :2] = opts["ignore_index"]
    else:
        t = (torch.rand(3, c, 9, 11, device=device) > 0.6).to(torch.float64)
        if "ignore_index" in opts:
            t[:, :, :2] = opts["ignore_index"]
    if opts.get("from_logits") is False:
        x = x.sigmoid()
    peer = {"dice": smp.DiceLoss, "jaccard": smp.JaccardLoss, "tversky": smp.TverskyLoss}[kind](mode, **opts)
    mine = {
        "dice": lossext.nn.DiceLoss,
        "jaccard": lossext.nn.JaccardLoss,
        "tversky": lossext.nn.TverskyLoss,
    }[kind](mode, **opts)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    want, got = peer(a, t), mine(b, t)
    torch.testing.assert_close(got, want.to(got.dtype))
    (ga,), (gb,) = torch.autograd.grad(want, a), torch.autograd.grad(got, b)
    torch.testing.assert_close(gb, ga)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_integer_class_index_targets_of_every_dtype(dtype, device):
    """Masks load as uint8 (or int32): the same loss and gradient as int64,
    ignore_index 255 included, and smp's (N, 1, H, W) and flattened layouts."""
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64, device=device)
    y = torch.randint(0, 4, (2, 5, 6), device=device)
    y[:, 0] = 255 if dtype == torch.uint8 else 100
    ignore = int(y[0, 0, 0])
    for layout in (y, y.unsqueeze(1), y.flatten(1)):
        for fn in (
            lambda x, t: lossext.dice_loss(x, t, "multiclass", ignore_index=ignore),
            lambda x, t: lossext.dice_ce_loss(x, t, ignore_index=ignore),
        ):
            a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
            want, got = fn(a, y), fn(b, layout.to(dtype))
            torch.testing.assert_close(got, want)
            torch.testing.assert_close(torch.autograd.grad(got, b)[0], torch.autograd.grad(want, a)[0])


SMP_MASKS = [
    ("binary", torch.uint8, lambda t: t),
    ("binary", torch.int64, lambda t: t[:, 0]),
    ("binary", torch.uint8, lambda t: t.flatten(1)),
    ("binary", torch.bool, lambda t: t.flatten(2)),
    ("multilabel", torch.uint8, lambda t: t),
    ("multilabel", torch.int32, lambda t: t.flatten(2)),
]


@pytest.mark.parametrize("mode,dtype,layout", SMP_MASKS)
def test_integer_and_reshaped_masks_match_smp(mode, dtype, layout):
    """smp views every target as (N, [C,] -1) and casts it to the input's type:
    integer masks and flattened layouts give smp's own values and gradients."""
    smp = _smp()
    c = 1 if mode == "binary" else 3
    x = torch.randn(2, c, 5, 6, dtype=torch.float64)
    t = layout((torch.rand(2, c, 5, 6) > 0.5).to(dtype))
    for kind in ("DiceLoss", "JaccardLoss", "TverskyLoss"):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        want = getattr(smp, kind)(mode)(a, t)
        got = getattr(lossext.nn, kind)(mode)(b, t)
        torch.testing.assert_close(got, want.to(got.dtype))
        torch.testing.assert_close(torch.autograd.grad(got, b)[0], torch.autograd.grad(want, a)[0])


def test_class_weights_rejected_in_binary_mode():
    x, t = torch.randn(2, 1, 4, 4), torch.rand(2, 1, 4, 4).round()
    with pytest.raises(ValueError, match="class_weights"):
        lossext.dice_loss(x, t, "binary", class_weights=[1.0])
    with pytest.raises(ValueError, match="class_weights"):
        lossext.dice_loss(
            torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4)), "multiclass", class_weights=[1.0, 2.0]
        )
    for bad in ([1.0, -1.0, 1.0], [1.0, float("nan"), 1.0], [0.0, 0.0, 0.0]):
        with pytest.raises(ValueError, match="class_weights"):
            lossext.jaccard_loss(
                torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4)), "multiclass", class_weights=bad
            )
