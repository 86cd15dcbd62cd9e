import math

import pytest
import torch
import torch.nn.functional as F
from tests.conftest import tolerances

import lossext
from lossext import reference

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
pytestmark = pytest.mark.filterwarnings("ignore::lossext.LossextFallbackWarning")


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss, restated literally (torchvision is not installable here)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "none":
        pass
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    else:
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: 'none', 'mean', 'sum'"
        )
    return loss


def value_and_grad(fn, x, *args, **kwargs):
    x = x.detach().requires_grad_(True)
    out = fn(x, *args, **kwargs)
    (g,) = torch.autograd.grad(out, x, torch.ones_like(out))
    return out.detach(), g


def index_targets(rows, classes, device, ignore_index=-100):
    y = torch.randint(-1, classes, rows, device=device)
    flat = y.view(-1)
    if flat.numel() > 2:
        flat[0] = ignore_index
        flat[1] = -1
    return y


def dense_from_index(y, classes, dtype):
    return (y.unsqueeze(-1) == torch.arange(classes, device=y.device)).to(dtype)


# ---------------------------------------------------------------- sigmoid focal, dense


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [-1.0, 0.25])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_dense_matches_torchvision(device, gamma, alpha, reduction):
    x = torch.randn(37, 11, dtype=torch.float64, device=device) * 3
    t = (torch.rand(37, 11, device=device) < 0.3).double()
    t[0] = torch.rand(11, device=device, dtype=torch.float64)  # soft targets too
    got, g_got = value_and_grad(lossext.sigmoid_focal_loss, x, t, alpha, gamma, reduction)
    want, g_want = value_and_grad(torchvision_sigmoid_focal_loss, x, t, alpha, gamma, reduction)
    torch.testing.assert_close(got, want, **tolerances(torch.float64))
    torch.testing.assert_close(g_got, g_want, **tolerances(torch.float64))


def test_gamma0_no_alpha_is_bce(device):
    x = torch.randn(5, 3, 7, device=device, dtype=torch.float64)
    t = torch.rand(5, 3, 7, device=device, dtype=torch.float64)
    got, g_got = value_and_grad(lossext.sigmoid_focal_loss, x, t, -1, 0.0, "mean")
    want, g_want = value_and_grad(F.binary_cross_entropy_with_logits, x, t)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g_got, g_want)


def test_hand_computed(device):
    # x = 0: p = 1/2, BCE = log 2 for t in {0, 1}; (1-p_t)^2 = 1/4.
    x = torch.zeros(1, 2, device=device)
    t = torch.tensor([[1.0, 0.0]], device=device)
    got = lossext.sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0)
    want = torch.tensor([[0.25 * 0.25 * math.log(2), 0.75 * 0.25 * math.log(2)]], device=device)
    torch.testing.assert_close(got, want)
    # index target 0 on the same row is the same thing
    torch.testing.assert_close(lossext.sigmoid_focal_loss(x, torch.tensor([0], device=device)), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_kind", ["dense", "index"])
def test_against_reference_all_options(device, dtype, target_kind):
    classes = 13
    x = (torch.randn(4, 9, classes, device=device) * 3).to(dtype)
    y = index_targets((4, 9), classes, device)
    t = y if target_kind == "index" else torch.rand(4, 9, classes, device=device).to(dtype)
    weight = torch.rand(classes, device=device) + 0.5
    for gamma, alpha, smoothing, w, reduction, norm in [
        (2.0, 0.25, 0.0, None, "none", None),
        (0.5, -1.0, 0.1, weight, "sum", None),
        (1.0, 0.25, 0.2, weight, "mean", None),
        (2.0, 0.25, 0.0, None, "sum", 7.0),
        (0.0, 0.4, 0.05, None, "mean", torch.tensor(3.0, device=device)),
        (1.5, 0.25, 0.0, weight, "none", torch.tensor([2.0], device=device)),
    ]:
        kw = dict(weight=w, label_smoothing=smoothing, normalizer=norm)
        got, g_got = value_and_grad(lossext.sigmoid_focal_loss, x, t, alpha, gamma, reduction, **kw)
        t64 = t if target_kind == "index" else t.double()
        w64 = None if w is None else w.double()
        want, g_want = value_and_grad(
            reference.sigmoid_focal_loss, x.double(), t64, alpha, gamma, reduction, **{**kw, "weight": w64}
        )
        assert got.dtype == dtype and g_got.dtype == dtype
        torch.testing.assert_close(got.double(), want, **tolerances(dtype))
        torch.testing.assert_close(g_got.double(), g_want, **tolerances(dtype))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("alpha", [-1.0, 0.25])
def test_index_equals_dense_one_hot(device, gamma, alpha):
    classes = 80
    x = torch.randn(300, classes, device=device) * 4
    y = index_targets((300,), classes, device)
    valid = y != -100
    dense = dense_from_index(y, classes, x.dtype)
    w = torch.rand(classes, device=device)
    for reduction in ["none", "sum"]:
        got, g_got = value_and_grad(lossext.sigmoid_focal_loss, x, y, alpha, gamma, reduction, weight=w)
        want, g_want = value_and_grad(
            lambda x: lossext.sigmoid_focal_loss(x[valid], dense[valid], alpha, gamma, reduction, weight=w), x
        )
        if reduction == "none":
            assert (got[~valid] == 0).all()
            got = got[valid]
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(g_got, g_want, rtol=1e-5, atol=1e-6)
        assert (g_got[~valid] == 0).all()


def test_index_mean_counts_valid_elements(device):
    x = torch.randn(6, 4, device=device)
    y = torch.tensor([0, -1, -100, 3, -100, 2], device=device)
    got = lossext.sigmoid_focal_loss(x, y, reduction="mean")
    total = lossext.sigmoid_focal_loss(x, y, reduction="sum")
    torch.testing.assert_close(got, total / (4 * 4))


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("target_kind", ["dense", "index"])
def test_saturated_logits_finite(device, gamma, target_kind):
    # p at exactly 0 or 1 in float32: no (1-p)^(gamma-1) blow-up.
    x = torch.tensor([[1e4, -1e4, 1e4, -1e4, 0.0, 30.0, -30.0, 100.0]], device=device)
    y = torch.tensor([0], device=device)
    t = (
        dense_from_index(y, 8, x.dtype)
        if target_kind == "index"
        else torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.5]], device=device)
    )
    tt = y if target_kind == "index" else t
    loss, grad = value_and_grad(lossext.sigmoid_focal_loss, x, tt, 0.25, gamma, "none")
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    a_t = 0.25 * t + 0.75 * (1 - t)
    if target_kind == "dense":
        # x = +1e4, t = 1: nothing to learn; x = -1e4, t = 1: loss = alpha 1e4, dL/dx = -alpha.
        assert loss[0, 0] == 0 and grad[0, 0] == 0
        torch.testing.assert_close(loss[0, 1], torch.tensor(0.25e4, device=device))
        torch.testing.assert_close(grad[0, 1], torch.tensor(-0.25, device=device))
        torch.testing.assert_close(loss[0, 3], torch.tensor(0.0, device=device))
        torch.testing.assert_close(loss[0, 2], a_t[0, 2] * 1e4)
    # against a float64 evaluation where it is well defined
    want, _ = value_and_grad(
        reference.sigmoid_focal_loss,
        x.double(),
        tt if target_kind == "index" else t.double(),
        0.25,
        gamma,
        "none",
    )
    torch.testing.assert_close(loss.double(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_gradient_against_float64_finite_difference(device, gamma):
    x = torch.randn(3, 5, dtype=torch.float64, device=device)
    t = torch.rand(3, 5, dtype=torch.float64, device=device)
    y = torch.tensor([1, -1, -100], device=device)
    w = torch.rand(5, dtype=torch.float64, device=device)
    for tt in (t, y):
        for smoothing in (0.0, 0.1):

            def per_element(x, tt=tt, smoothing=smoothing):
                return lossext.sigmoid_focal_loss(
                    x, tt, 0.25, gamma, "none", weight=w, label_smoothing=smoothing
                )

            def normalized(x, tt=tt):
                return lossext.sigmoid_focal_loss(x, tt, 0.25, gamma, "sum", normalizer=3.0)

            assert torch.autograd.gradcheck(per_element, (x.requires_grad_(),))
            assert torch.autograd.gradcheck(normalized, (x,))


def test_label_smoothing_apex_formula(device):
    # apex: BCE against t (1 - s) + s/2; modulating factor and alpha from the hard target.
    s, alpha, gamma = 0.2, 0.25, 2.0
    x = torch.randn(10, 6, device=device, dtype=torch.float64)
    y = torch.randint(-1, 6, (10,), device=device)
    t = dense_from_index(y, 6, x.dtype)
    p = x.sigmoid()
    bce = F.binary_cross_entropy_with_logits(x, t * (1 - s) + s / 2, reduction="none")
    focal = torch.where(t > 0, alpha * (1 - p) ** gamma, (1 - alpha) * p**gamma)
    want = (focal * bce).sum() / 4.0
    got = lossext.sigmoid_focal_loss(
        x, y, alpha, gamma, "sum", normalizer=torch.tensor(4.0, device=device), label_smoothing=s
    )
    torch.testing.assert_close(got, want)


def test_nan_and_empty(device):
    x = torch.randn(4, 3, device=device)
    x[1, 2] = float("nan")
    out = lossext.sigmoid_focal_loss(x, torch.tensor([0, 1, -1, 2], device=device))
    assert out[1, 2].isnan() and torch.isfinite(out[0]).all()
    empty = torch.randn(0, 5, device=device, requires_grad=True)
    for red in ["none", "sum"]:
        out = lossext.sigmoid_focal_loss(
            empty, torch.zeros(0, dtype=torch.long, device=device), reduction=red
        )
        out.sum().backward()
    assert lossext.sigmoid_focal_loss(empty, torch.zeros(0, 5, device=device), reduction="sum") == 0


def test_non_contiguous_and_3d(device):
    x = torch.randn(2, 12, 7, device=device).transpose(0, 1)  # (12, 2, 7)
    y = torch.randint(-1, 7, (12, 2), device=device)
    got, g_got = value_and_grad(lossext.sigmoid_focal_loss, x, y, 0.25, 2.0, "none")
    want, g_want = value_and_grad(reference.sigmoid_focal_loss, x, y, 0.25, 2.0, "none")
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g_got, g_want)


# ---------------------------------------------------------------- softmax focal


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(33, 7), (4, 5, 3, 2), (6,)])
def test_softmax_against_reference(device, dtype, shape):
    classes = shape[1] if len(shape) > 1 else shape[0]
    x = (torch.randn(*shape, device=device) * 3).to(dtype)
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    y = torch.randint(0, classes, tshape, device=device)
    if y.dim() and y.numel() > 1:
        y.view(-1)[0] = -100
    alpha_t = torch.rand(classes, device=device)
    weight = torch.rand(classes, device=device) + 0.5
    for alpha, gamma, w, reduction in [
        (None, 2.0, None, "mean"),
        (0.25, 0.5, weight, "sum"),
        (alpha_t, 1.0, weight, "mean"),
        (alpha_t, 0.0, None, "none"),
        (0.7, 3.0, None, "none"),
    ]:
        got, g_got = value_and_grad(lossext.softmax_focal_loss, x, y, alpha, gamma, w, -100, reduction)
        a64 = alpha.double() if isinstance(alpha, torch.Tensor) else alpha
        w64 = None if w is None else w.double()
        want, g_want = value_and_grad(
            reference.softmax_focal_loss, x.double(), y, a64, gamma, w64, -100, reduction
        )
        torch.testing.assert_close(got.double(), want, **tolerances(dtype))
        torch.testing.assert_close(g_got.double(), g_want, **tolerances(dtype))


def test_softmax_gamma0_is_cross_entropy(device):
    x = torch.randn(20, 6, 3, dtype=torch.float64, device=device)
    y = torch.randint(0, 6, (20, 3), device=device)
    y[0, 0] = -100
    w = torch.rand(6, dtype=torch.float64, device=device)
    got, g_got = value_and_grad(lossext.softmax_focal_loss, x, y, None, 0.0, w)
    want, g_want = value_and_grad(F.cross_entropy, x, y, w)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g_got, g_want)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_saturated_finite(device, gamma):
    x = torch.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], device=device)
    y = torch.tensor([0, 0], device=device)
    loss, grad = value_and_grad(lossext.softmax_focal_loss, x, y, None, gamma, None, -100, "none")
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    assert loss[0] == 0 and (grad[0] == 0).all()
    torch.testing.assert_close(loss[1], torch.tensor(2e4, device=device))


def test_softmax_gradcheck(device):
    x = torch.randn(5, 4, 2, dtype=torch.float64, device=device, requires_grad=True)
    y = torch.randint(0, 4, (5, 2), device=device)
    y[0, 0] = -100
    alpha = torch.rand(4, dtype=torch.float64, device=device)
    for gamma in (0.5, 2.0):
        assert torch.autograd.gradcheck(
            lambda x: lossext.softmax_focal_loss(x, y, alpha, gamma, reduction="none"), (x,)
        )


# ---------------------------------------------------------------- nn modules


def test_modules(device):
    x = torch.randn(8, 5, device=device)
    y = torch.randint(-1, 5, (8,), device=device)
    m = lossext.nn.SigmoidFocalLoss(reduction="sum", weight=torch.rand(5, device=device))
    torch.testing.assert_close(
        m(x, y, normalizer=2.0),
        lossext.sigmoid_focal_loss(x, y, reduction="sum", weight=m.weight, normalizer=2.0),
    )
    alpha = torch.rand(5, device=device)
    sm = lossext.nn.SoftmaxFocalLoss(alpha=alpha, gamma=1.0)
    yy = y.clamp(min=0)
    torch.testing.assert_close(sm(x, yy), lossext.softmax_focal_loss(x, yy, alpha, 1.0))


# ---------------------------------------------------------------- ops, compile


def test_compile_aot_eager(device):
    x = torch.randn(64, 10, device=device, requires_grad=True)
    y = torch.randint(-1, 10, (64,), device=device)
    n = (y >= 0).sum().clamp(min=1)

    def step(x, y, n):
        a = lossext.sigmoid_focal_loss(x, y, reduction="sum", normalizer=n)
        b = lossext.softmax_focal_loss(x, y.clamp(min=0), 0.25, 1.5)
        return a + b

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    got, g_got = value_and_grad(lambda x: compiled(x, y, n), x)
    want, g_want = value_and_grad(lambda x: step(x, y, n), x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g_got, g_want)


def test_compile_inductor():
    x = torch.randn(32, 6, requires_grad=True)
    t = torch.rand(32, 6)
    fn = torch.compile(lambda x: lossext.sigmoid_focal_loss(x, t, reduction="mean"), fullgraph=True)
    got, g_got = value_and_grad(fn, x)
    want, g_want = value_and_grad(lambda x: torchvision_sigmoid_focal_loss(x, t, reduction="mean"), x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g_got, g_want)


# ---------------------------------------------------------------- bad inputs


def test_bad_inputs(device):
    x = torch.randn(4, 3, device=device)
    y = torch.tensor([0, 1, 2, -1], device=device)
    f = lossext.sigmoid_focal_loss
    with pytest.raises(ValueError, match="alpha"):
        f(x, y, alpha=1.5)
    with pytest.raises(ValueError, match="gamma"):
        f(x, y, gamma=-1.0)
    with pytest.raises(ValueError, match="Invalid"):
        f(x, y, reduction="avg")
    with pytest.raises(ValueError, match="targets"):
        f(x, torch.zeros(4, 2, device=device))
    with pytest.raises(ValueError, match="targets"):
        f(x, torch.zeros(3, dtype=torch.long, device=device))
    with pytest.raises(TypeError, match="targets"):
        f(x, y.int())
    with pytest.raises(TypeError, match="inputs"):
        f(x.long(), y)
    with pytest.raises(ValueError, match="weight"):
        f(x, y, weight=torch.ones(4, device=device))
    with pytest.raises(ValueError, match="label_smoothing"):
        f(x, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="normalizer"):
        f(x, y, normalizer=torch.ones(2, device=device))
    s = lossext.softmax_focal_loss
    with pytest.raises(ValueError, match="alpha"):
        s(x, y.clamp(min=0), alpha=2.0)
    with pytest.raises(ValueError, match="alpha"):
        s(x, y.clamp(min=0), alpha=torch.ones(4, device=device))
    with pytest.raises(ValueError, match="gamma"):
        s(x, y.clamp(min=0), gamma=-0.5)
    with pytest.raises(ValueError, match="target"):
        s(x, torch.zeros(4, 3, dtype=torch.long, device=device))
    with pytest.raises(ValueError, match="Invalid"):
        s(x, y.clamp(min=0), reduction="bad")


def test_class_index_out_of_range_cpu():
    x = torch.randn(4, 3)
    with pytest.raises(IndexError, match="class index 3"):
        lossext.sigmoid_focal_loss(x, torch.tensor([0, 1, 3, -1]))
    with pytest.raises(IndexError, match="class index -2"):
        lossext.sigmoid_focal_loss(x, torch.tensor([0, -2, 1, -1]))
    with pytest.raises(IndexError, match="class index 5"):
        lossext.softmax_focal_loss(x, torch.tensor([0, 5, 1, 2]))


@pytest.mark.cuda
def test_class_index_out_of_range_cuda_marks_nan():
    x = torch.randn(4, 3, device="cuda")
    out = lossext.sigmoid_focal_loss(x, torch.tensor([0, 1, 3, -1], device="cuda"))
    assert out[2].isnan().all() and torch.isfinite(out[[0, 1, 3]]).all()
    out = lossext.softmax_focal_loss(x, torch.tensor([0, 5, 1, 2], device="cuda"), reduction="none")
    assert out[1].isnan() and torch.isfinite(out[[0, 2, 3]]).all()


# ---------------------------------------------------------------- CPU forward that writes the gradient


class _OpsCalled(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the lossext ops dispatched (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == "lossext":
            self.names.append(func._opname)
        return func(*args, **(kwargs or {}))


def _sigmoid_ops_called(x, y, **kw):
    with _OpsCalled() as mode:
        out = lossext.sigmoid_focal_loss(x, y, **kw)
        if out.requires_grad:
            torch.autograd.grad(out.sum(), x)
    return mode.names


def test_cpu_training_uses_forward_with_grad():
    if not lossext.build_info()["cpu_kernels"]:
        pytest.skip("no compiled kernels")
    x = torch.randn(16, 7, requires_grad=True)
    y = torch.randint(-1, 7, (16,))
    for reduction in ["none", "sum", "mean"]:
        assert _sigmoid_ops_called(x, y, reduction=reduction) == [
            "sigmoid_focal_fwd_with_grad",
            "sigmoid_focal_bwd_saved",
        ]
    # Inference keeps the one-output forward: no gradient buffer is written.
    with torch.no_grad():
        assert _sigmoid_ops_called(x, y, reduction="sum") == ["sigmoid_focal_fwd"]
    assert _sigmoid_ops_called(x.detach(), y, reduction="sum") == ["sigmoid_focal_fwd"]


@pytest.mark.parametrize("target_kind", ["dense", "index"])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_retain_graph_repeated_backward(device, target_kind, reduction):
    # The saved derivative must survive a backward intact: two backward calls
    # with different upstream gradients each match the reference.
    classes = 9
    x = torch.randn(20, classes, device=device, dtype=torch.float64, requires_grad=True)
    y = index_targets((20,), classes, device)
    t = y if target_kind == "index" else torch.rand(20, classes, device=device, dtype=torch.float64)
    kw = dict(
        weight=torch.rand(classes, device=device, dtype=torch.float64) + 0.5,
        label_smoothing=0.1,
        normalizer=torch.tensor(3.0, device=device, dtype=torch.float64),
    )
    out = lossext.sigmoid_focal_loss(x, t, 0.25, 1.5, reduction, **kw)
    want = reference.sigmoid_focal_loss(x, t, 0.25, 1.5, reduction, **kw)
    for scale in [1.0, -2.5, 0.0, 4.0]:
        g = torch.full_like(out, scale) if reduction == "sum" else torch.randn_like(out)
        (got,) = torch.autograd.grad(out, x, g, retain_graph=True)
        (ref,) = torch.autograd.grad(want, x, g, retain_graph=True)
        torch.testing.assert_close(got, ref)
    x.grad = None
    out.sum().backward(retain_graph=True)
    out.sum().backward()
    (ref,) = torch.autograd.grad(want.sum(), x)
    torch.testing.assert_close(x.grad, 2 * ref)


def test_no_grad_forward_matches_training_forward(device):
    x = torch.randn(40, 11, device=device) * 4
    y = index_targets((40,), 11, device)
    for gamma in [0.0, 0.5, 1.0, 1.5, 2.0]:
        for reduction in ["none", "sum"]:
            with torch.no_grad():
                plain = lossext.sigmoid_focal_loss(x, y, 0.25, gamma, reduction)
            trained = lossext.sigmoid_focal_loss(x.clone().requires_grad_(), y, 0.25, gamma, reduction)
            # Same element math and row-sum order (the bits match on the build
            # machine; another ISA clone may contract multiply-adds differently).
            torch.testing.assert_close(plain, trained.detach(), rtol=1e-6, atol=1e-7)


def test_class_index_out_of_range_cpu_training():
    x = torch.randn(4, 3, requires_grad=True)
    with pytest.raises(IndexError, match="class index 3"):
        lossext.sigmoid_focal_loss(x, torch.tensor([0, 1, 3, -1]), reduction="sum")


def test_opcheck_forward_with_grad():
    if not lossext.build_info()["cpu_kernels"]:
        pytest.skip("no compiled kernels")
    ops = torch.ops.lossext
    for dtype in [torch.float32, torch.float64, torch.bfloat16]:
        x = torch.randn(6, 5, dtype=dtype, requires_grad=True)
        y = torch.tensor([0, -1, 4, -100, 2, 1])
        t = torch.rand(6, 5, dtype=dtype)
        w = torch.rand(5)
        for target, reduce_rows in [(y, True), (y, False), (t, False), (t, True)]:
            torch.library.opcheck(
                ops.sigmoid_focal_fwd_with_grad, (x, target, w, 0.25, 1.5, -100, 0.1, reduce_rows)
            )
            _, d = ops.sigmoid_focal_fwd_with_grad(x.detach(), target, w, 0.25, 1.5, -100, 0.1, reduce_rows)
            for g in [
                torch.rand(6 if reduce_rows else (6, 5)),
                torch.tensor(0.5).expand(6 if reduce_rows else (6, 5)),
            ]:
                torch.library.opcheck(ops.sigmoid_focal_bwd_saved, (g, d, reduce_rows))
                want = ops.sigmoid_focal_bwd(g, x.detach(), target, w, 0.25, 1.5, -100, 0.1, reduce_rows)
                got = ops.sigmoid_focal_bwd_saved(g, d, reduce_rows)
                torch.testing.assert_close(got, want, **tolerances(dtype))
    with pytest.raises(ValueError, match="grad_loss must have shape"):
        ops.sigmoid_focal_bwd_saved(torch.rand(5), torch.rand(6, 5), True)
    with pytest.raises(ValueError, match="dloss_dinput must be 2-D"):
        ops.sigmoid_focal_bwd_saved(torch.rand(6), torch.rand(6), True)


# ---------------------------------------------------------------- softmax focal against kornia's and MONAI's code
# lossext keeps F.cross_entropy's reductions ('none' per row, 'mean' over the non-ignored rows);
# kornia and MONAI return an (N, C, *) map for 'none' and divide 'mean' by N*C*pixels. alpha
# (a float: class 0 weighs 1 - alpha, the others alpha) and the per-row values are the same.


def _peer(name):
    from benchmarks import peers  # noqa: F401  (the peers' own folder on sys.path)

    return pytest.importorskip(name)


@pytest.mark.parametrize("alpha,gamma", [(None, 2.0), (0.25, 2.0), (0.8, 0.5), (0.25, 0.0)])
def test_softmax_focal_matches_kornia(alpha, gamma):
    kornia_losses = _peer("kornia.losses")
    x = torch.randn(3, 5, 4, 6, dtype=torch.float64)
    y = torch.randint(0, 5, (3, 4, 6))
    y[0, 0] = -100
    c = x.shape[1]
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    want = kornia_losses.focal_loss(a, y, alpha, gamma, reduction="none")
    got = lossext.softmax_focal_loss(b, y, alpha, gamma, reduction="none")
    assert want.shape == (3, c, 4, 6) and got.shape == y.shape
    torch.testing.assert_close(got, want.sum(1))
    for peer_reduction, ours in (("sum", lambda t: t), ("mean", lambda t: t / (y.numel() * c))):
        want = kornia_losses.focal_loss(a, y, alpha, gamma, reduction=peer_reduction)
        got = ours(lossext.softmax_focal_loss(b, y, alpha, gamma, reduction="sum"))
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(torch.autograd.grad(got, b)[0], torch.autograd.grad(want, a)[0])


@pytest.mark.parametrize("alpha,gamma", [(None, 2.0), (0.25, 2.0), (0.6, 1.0)])
def test_softmax_focal_matches_monai(alpha, gamma):
    monai_losses = _peer("monai.losses")
    x = torch.randn(2, 4, 5, 3)  # MONAI's FocalLoss computes in float32 whatever the input
    y = torch.randint(0, 4, (2, 5, 3))
    c = x.shape[1]
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    peer = monai_losses.FocalLoss(
        use_softmax=True, to_onehot_y=True, gamma=gamma, alpha=alpha, reduction="none"
    )
    want = peer(a, y.unsqueeze(1))
    torch.testing.assert_close(lossext.softmax_focal_loss(b, y, alpha, gamma, reduction="none"), want.sum(1))
    peer.reduction = "mean"
    want = peer(a, y.unsqueeze(1))
    got = lossext.softmax_focal_loss(b, y, alpha, gamma, reduction="sum") / (y.numel() * c)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got, b)[0], torch.autograd.grad(want, a)[0])


def test_softmax_focal_float_alpha_weighs_the_background_class():
    x = torch.randn(6, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    plain = lossext.softmax_focal_loss(x, y, None, 2.0, reduction="none")
    got = lossext.softmax_focal_loss(x, y, 0.25, 2.0, reduction="none")
    torch.testing.assert_close(got, plain * torch.where(y == 0, 0.75, 0.25).double())
    torch.testing.assert_close(reference.softmax_focal_loss(x, y, 0.25, 2.0, reduction="none"), got)
