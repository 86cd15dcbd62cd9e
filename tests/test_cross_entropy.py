"""lossext.cross_entropy against torch and the reference: values, gradients,
every option and dtype, layouts, edge values, compile, bad input (opcheck: test_ops_coverage.py)."""

import pytest
import torch
import torch.nn.functional as F

import lossext
from lossext import reference
from tests.conftest import tolerances

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
REDUCTIONS = ["none", "mean", "sum"]


def make_case(shape, dtype, device, ignore_frac=0.2, ignore_index=-100):
    x = (torch.randn(shape, dtype=torch.float64) * 3).to(dtype=dtype, device=device).requires_grad_()
    classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0], *shape[2:])
    y = torch.randint(0, classes, tshape)
    if len(tshape):
        y[torch.rand(tshape) < ignore_frac] = ignore_index
    return x, y.to(device)


def oracle(x, y, **kw):
    """torch's own cross_entropy in float64: the ground truth for every dtype."""
    x64 = x.detach().double().requires_grad_()
    w = kw.pop("weight", None)
    t = y.double() if y.is_floating_point() else y
    loss = F.cross_entropy(x64, t, None if w is None else w.double(), **kw)
    return loss, x64


def check_against_oracle(x, y, weight=None, z_loss=0.0, **kw):
    out = lossext.cross_entropy(x, y, weight, z_loss=z_loss, **kw)
    assert out.dtype == x.dtype
    ref, x64 = oracle(x, y, weight=weight, **kw)
    if z_loss:
        ref = None  # torch has no z-loss: compare with our reference in float64 instead
        ref = reference.cross_entropy(
            x64,
            y.double() if y.is_floating_point() else y,
            None if weight is None else weight.double(),
            z_loss=z_loss,
            **kw,
        )
    tol = tolerances(x.dtype)
    torch.testing.assert_close(out.double(), ref.detach(), **tol)
    g = torch.randn_like(ref)  # a non-trivial upstream gradient
    (gx,) = torch.autograd.grad(out, x, g.to(out.dtype))
    (gref,) = torch.autograd.grad(ref, x64, g)
    torch.testing.assert_close(gx.double(), gref, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(16, 10), (4, 7, 3, 5), (11,), (3, 5, 8)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_index_targets_match_torch(device, dtype, shape, reduction):
    x, y = make_case(shape, dtype, device)
    check_against_oracle(x, y, reduction=reduction)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_index_options_match_torch(device, dtype, reduction, label_smoothing, weighted, ignore_index):
    x, y = make_case((6, 9, 4), dtype, device, ignore_index=ignore_index)
    w = torch.rand(9, device=device) + 0.1 if weighted else None
    check_against_oracle(
        x, y, weight=w, reduction=reduction, label_smoothing=label_smoothing, ignore_index=ignore_index
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(12, 7), (3, 6, 5)])
def test_probability_targets_match_torch(device, dtype, reduction, label_smoothing, weighted, shape):
    x, _ = make_case(shape, dtype, device)
    t = torch.softmax(torch.randn(shape, device=device), dim=1).to(dtype)
    w = torch.rand(shape[1], device=device) + 0.1 if weighted else None
    check_against_oracle(x, t, weight=w, reduction=reduction, label_smoothing=label_smoothing)


@pytest.mark.parametrize("target_kind", ["index", "prob"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_z_loss_matches_reference(device, target_kind, reduction):
    x, y = make_case((8, 13), torch.float32, device)
    if target_kind == "prob":
        y = torch.softmax(torch.randn(8, 13, device=device), 1)
    check_against_oracle(x, y, z_loss=1e-3, reduction=reduction, label_smoothing=0.1)


def test_z_loss_by_hand():
    x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    lse = torch.logsumexp(x, 1)
    out = lossext.cross_entropy(x, torch.tensor([0]), z_loss=0.5)
    torch.testing.assert_close(out, (lse - 1.0 + 0.5 * lse**2)[0])


def test_gradient_is_softmax_minus_onehot():
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 7, (5,))
    (g,) = torch.autograd.grad(lossext.cross_entropy(x, y, reduction="sum"), x)
    torch.testing.assert_close(g, torch.softmax(x, 1) - F.one_hot(y, 7).double())


def test_reference_matches_torch():
    x, y = make_case((10, 6, 3), torch.float64, "cpu")
    w = torch.rand(6, dtype=torch.float64)
    for kw in [dict(), dict(weight=w, label_smoothing=0.3)]:
        torch.testing.assert_close(reference.cross_entropy(x, y, **kw), F.cross_entropy(x, y, **kw))
    y1 = y.clamp(min=0)
    torch.testing.assert_close(
        reference.cross_entropy(x, y1, reduction="none", ignore_index=1),
        F.cross_entropy(x, y1, reduction="none", ignore_index=1),
    )
    t = torch.softmax(torch.randn(10, 6, 3, dtype=torch.float64), 1)
    torch.testing.assert_close(
        reference.cross_entropy(x, t, w, label_smoothing=0.2), F.cross_entropy(x, t, w, label_smoothing=0.2)
    )


def test_hand_value():
    # logits [4, -4, 3], target 2: lse - 3 = log(e^4 + e^-4 + e^3) - 3
    x = torch.tensor([[4.0, -4.0, 3.0]], dtype=torch.float64)
    e = torch.tensor([4.0, -4.0, 3.0], dtype=torch.float64).exp()
    torch.testing.assert_close(lossext.cross_entropy(x, torch.tensor([2])), torch.log(e.sum()) - 3)


@pytest.mark.parametrize("classes", [1, 2, 4097, 65536])
def test_class_counts(device, classes):
    x, y = make_case((3, classes), torch.float32, device, ignore_frac=0.0)
    check_against_oracle(x, y, reduction="none", label_smoothing=0.1)


@pytest.mark.slow
def test_very_wide_rows(device):
    x, y = make_case((2, 262144), torch.float32, device, ignore_frac=0.0)
    check_against_oracle(x, y, reduction="sum")


def test_wide_rows_bfloat16(device):
    x, y = make_case((2, 262144), torch.bfloat16, device, ignore_frac=0.0)
    check_against_oracle(x, y, reduction="none")


@pytest.mark.parametrize("layout", ["transposed", "sliced", "channels_last", "expanded_target"])
def test_non_contiguous_inputs(device, layout):
    if layout == "transposed":
        x = torch.randn(9, 20, device=device).t().requires_grad_()  # (20, 9), class stride 20
        y = torch.randint(0, 9, (20,), device=device)
    elif layout == "sliced":
        x = torch.randn(20, 30, device=device)[:, 5:25:2].requires_grad_()
        y = torch.randint(0, 10, (20,), device=device)
    elif layout == "channels_last":
        x = torch.randn(2, 5, 4, 3, device=device).to(memory_format=torch.channels_last).requires_grad_()
        y = torch.randint(0, 5, (2, 4, 3), device=device)
    else:
        x = torch.randn(6, 5, device=device, requires_grad=True)
        y = torch.tensor([3], device=device).expand(6)
    assert not x.is_contiguous() or layout == "expanded_target"
    check_against_oracle(x, y, reduction="none", label_smoothing=0.1)


def test_empty_inputs(device):
    x = torch.randn(0, 5, device=device, requires_grad=True)
    y = torch.zeros(0, dtype=torch.long, device=device)
    assert lossext.cross_entropy(x, y, reduction="none").shape == (0,)
    assert lossext.cross_entropy(x, y, reduction="sum").item() == 0
    out = lossext.cross_entropy(x, y)  # 'mean' over nothing: nan, as torch
    assert torch.isnan(out) and torch.isnan(F.cross_entropy(x, y))
    (g,) = torch.autograd.grad(lossext.cross_entropy(x, y, reduction="sum"), x)
    assert g.shape == (0, 5)


def test_all_targets_ignored(device):
    x = torch.randn(4, 6, device=device, requires_grad=True)
    y = torch.full((4,), -100, device=device)
    assert torch.isnan(lossext.cross_entropy(x, y)) and torch.isnan(F.cross_entropy(x, y))
    out = lossext.cross_entropy(x, y, reduction="sum", label_smoothing=0.2, z_loss=0.1)
    assert out.item() == 0
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g, torch.zeros_like(g))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_huge_logits(device, dtype):
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [5e3, 5e3, -1e4]], dtype=dtype, device=device)
    x.requires_grad_()
    y = torch.tensor([0, 1, 2], device=device)
    out = lossext.cross_entropy(x, y, reduction="none", label_smoothing=0.1)
    ref, _ = oracle(x, y, reduction="none", label_smoothing=0.1)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(
        out.double(), ref.detach(), rtol=1e-2, atol=1e-2 * 1e4 if dtype != torch.float32 else 1e-3
    )
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(g).all()


def test_nan_and_inf_logits(device):
    x = torch.tensor(
        [[float("nan"), 0.0, 1.0], [float("-inf"), 0.0, 1.0], [float("-inf")] * 3], device=device
    )
    y = torch.tensor([1, 1, 0], device=device)
    out = lossext.cross_entropy(x, y, reduction="none")
    ref = F.cross_entropy(x, y, reduction="none")
    assert torch.isnan(out[0]) and torch.isnan(ref[0])
    torch.testing.assert_close(out[1], ref[1])
    assert torch.isnan(out[2]) and torch.isnan(ref[2])


def test_gradcheck_float64():
    x = torch.randn(4, 5, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (4, 3))
    y[0, 0] = -100
    w = torch.rand(5, dtype=torch.float64)
    t = torch.softmax(torch.randn(4, 5, 3, dtype=torch.float64), 1).requires_grad_()
    for red in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda x: lossext.cross_entropy(x, y, w, reduction=red, label_smoothing=0.2, z_loss=0.1), (x,)
        )
        assert torch.autograd.gradcheck(
            lambda x, t: lossext.cross_entropy(x, t, w, reduction=red, label_smoothing=0.2, z_loss=0.1),
            (x, t),
        )


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_fullgraph(device, backend):
    def step(x, y, t, w):
        return lossext.cross_entropy(x, y, w, label_smoothing=0.1, z_loss=1e-4) + lossext.cross_entropy(
            x, t, reduction="sum"
        )

    compiled = torch.compile(step, fullgraph=True, backend=backend)
    x = torch.randn(8, 11, device=device, requires_grad=True)
    y = torch.randint(0, 11, (8,), device=device)
    t = torch.softmax(torch.randn(8, 11, device=device), 1)
    w = torch.rand(11, device=device)
    eager = step(x, y, t, w)
    out = compiled(x, y, t, w)
    torch.testing.assert_close(out, eager)
    torch.testing.assert_close(torch.autograd.grad(out, x)[0], torch.autograd.grad(eager, x)[0])


def test_module_matches_function():
    w = torch.rand(7)
    m = lossext.nn.CrossEntropyLoss(
        weight=w, label_smoothing=0.1, ignore_index=3, reduction="sum", z_loss=0.01
    )
    x, y = make_case((9, 7), torch.float32, "cpu", ignore_index=3)
    torch.testing.assert_close(m(x, y), lossext.cross_entropy(x, y, w, 3, "sum", 0.1, 0.01))
    assert "weight" in dict(m.named_buffers())


def test_fallback_warns_once_and_matches(monkeypatch):
    from lossext import _ext

    monkeypatch.setattr(_ext, "CPU_KERNELS", False)
    monkeypatch.setattr(_ext, "_warned", set())
    x, y = make_case((5, 4), torch.float64, "cpu")
    with pytest.warns(lossext.LossextFallbackWarning, match="reference"):
        a = lossext.cross_entropy(x, y)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lossext.cross_entropy(x, y)  # second call: silent
    monkeypatch.setattr(_ext, "CPU_KERNELS", True)
    torch.testing.assert_close(a, lossext.cross_entropy(x, y))


# ---- bad input -------------------------------------------------------------------------------------------


def test_out_of_range_index_raises_on_cpu():
    x = torch.randn(4, 5)
    for bad in (5, 17, -1, -101):
        y = torch.tensor([0, 1, bad, 2])
        with pytest.raises(IndexError, match="outside \\[0, 5\\)"):
            lossext.cross_entropy(x, y)


@pytest.mark.cuda
def test_out_of_range_index_is_nan_on_cuda():
    x = torch.randn(4, 5, device="cuda", requires_grad=True)
    y = torch.tensor([0, 1, 9, 2], device="cuda")
    out = lossext.cross_entropy(x, y, reduction="none")
    assert torch.isnan(out[2]) and torch.isfinite(out[[0, 1, 3]]).all()
    assert torch.isnan(lossext.cross_entropy(x, y))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(reduction="avg"), ValueError, "Invalid reduction"),
        (dict(label_smoothing=1.5), ValueError, "label_smoothing"),
        (dict(label_smoothing=-0.1), ValueError, "label_smoothing"),
        (dict(z_loss=-1.0), ValueError, "z_loss"),
        (dict(weight=torch.ones(4)), ValueError, "weight"),
        (dict(weight=torch.ones(5, 1)), ValueError, "weight"),
        (dict(weight=torch.ones(5, dtype=torch.long)), TypeError, "weight"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    x, y = torch.randn(3, 5), torch.tensor([0, 1, 2])
    with pytest.raises(error, match=match):
        lossext.cross_entropy(x, y, **kwargs)


def test_bad_targets_and_inputs():
    x = torch.randn(3, 5)
    with pytest.raises(TypeError, match="target"):
        lossext.cross_entropy(x, torch.tensor([0, 1, 1], dtype=torch.bool))
    with pytest.raises(ValueError, match="target"):
        lossext.cross_entropy(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="probability target"):
        lossext.cross_entropy(x, torch.rand(3, 4))
    with pytest.raises(TypeError, match="input"):
        lossext.cross_entropy(torch.ones(3, 5, dtype=torch.long), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="target"):
        lossext.cross_entropy(x, [0, 1, 2])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_integer_target_dtypes(dtype, device):
    """torch takes uint8 (Byte) class targets, the dtype masks load as; lossext
    takes every integer dtype, with the loss and gradient of int64 targets."""
    for shape, target_shape in (((6, 5), (6,)), ((2, 5, 3, 4), (2, 3, 4))):
        x = torch.randn(shape, dtype=torch.float64, device=device)
        y = torch.randint(0, 5, target_shape, device=device)
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        want = torch.nn.functional.cross_entropy(a, y, label_smoothing=0.1)
        got = lossext.cross_entropy(b, y.to(dtype), label_smoothing=0.1)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(torch.autograd.grad(got, b)[0], torch.autograd.grad(want, a)[0])
        if dtype == torch.uint8 and len(shape) == 2:  # torch itself takes Byte targets here
            torch.testing.assert_close(
                got, torch.nn.functional.cross_entropy(x, y.to(dtype), label_smoothing=0.1)
            )
    y = torch.tensor([0, 255, 3], dtype=torch.uint8)  # a uint8 mask's ignore value
    x = torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(
        lossext.cross_entropy(x, y, ignore_index=255),
        torch.nn.functional.cross_entropy(x, y.long(), ignore_index=255),
    )


def test_op_level_checks():
    # The ops check too (RuntimeError subclasses naming the argument), for direct callers.
    ops = torch.ops.lossext
    x = torch.randn(3, 5)
    with pytest.raises(ValueError, match="target must have shape"):
        ops.cross_entropy_index_fwd(x, torch.zeros(4, dtype=torch.long), None, -100, 0.0, 0.0)
    with pytest.raises(TypeError, match="target must be int64"):
        ops.cross_entropy_index_fwd(x, torch.zeros(3, dtype=torch.int32), None, -100, 0.0, 0.0)
    with pytest.raises(ValueError, match="weight"):
        ops.cross_entropy_index_fwd(x, torch.zeros(3, dtype=torch.long), torch.ones(2), -100, 0.0, 0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        ops.cross_entropy_prob_fwd(x, torch.rand(3, 5), None, 2.0, 0.0)


@pytest.mark.cuda
def test_device_mismatch_raises():
    x = torch.randn(3, 5, device="cuda")
    with pytest.raises(ValueError, match="target"):
        lossext.cross_entropy(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="weight"):
        lossext.cross_entropy(x, torch.tensor([0, 1, 2], device="cuda"), torch.ones(5))


def test_device_mismatch_raises_on_meta():
    # Without a GPU, a second device is still at hand: meta tensors.
    x = torch.randn(3, 5)
    with pytest.raises(ValueError, match="target is on meta"):
        lossext.cross_entropy(x, torch.zeros(3, dtype=torch.long, device="meta"))
    with pytest.raises(ValueError, match="weight is on meta"):
        lossext.cross_entropy(x, torch.tensor([0, 1, 2]), torch.ones(5, device="meta"))
