import math

import pytest
import torch
import torch.nn.functional as TF

import lossext
from lossext import reference
from tests.conftest import tolerances

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
REDUCTIONS = ["batchmean", "sum", "mean", "none"]


def _pair(shape, dtype, device, log_target):
    x = torch.randn(shape, dtype=torch.float64, device=device).log_softmax(-1)
    t = torch.randn(shape, dtype=torch.float64, device=device).log_softmax(-1)
    if not log_target:
        t = t.exp()
        t[..., :2] = 0  # zero probabilities take the xlogy branch
    return x.to(dtype), t.to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kl_div_matches_torch(device, dtype, log_target, reduction):
    x, t = _pair((7, 20001), dtype, device, log_target)  # crosses a chunk boundary
    x.requires_grad_(True)
    got = lossext.kl_div(x, t, reduction=reduction, log_target=log_target)
    x64 = x.detach().double().requires_grad_(True)
    want = TF.kl_div(x64, t.double(), reduction=reduction, log_target=log_target)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), want, **tolerances(dtype))
    g = torch.randn_like(want)
    (gx,) = torch.autograd.grad(got, x, g.to(got.dtype))
    (wx,) = torch.autograd.grad(want, x64, g)
    torch.testing.assert_close(gx.double(), wx, **tolerances(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("beta", [0.5, 0.1, 0.9])
def test_js_div_matches_reference(device, dtype, log_target, beta):
    x, t = _pair((5, 17000), dtype, device, log_target)
    x.requires_grad_(True)
    got = lossext.js_div(x, t, beta=beta, log_target=log_target)
    x64 = x.detach().double().requires_grad_(True)
    want = reference.js_div(x64, t.double(), beta, "batchmean", log_target)
    torch.testing.assert_close(got.double(), want, **tolerances(dtype))
    (gx,) = torch.autograd.grad(got, x)
    (wx,) = torch.autograd.grad(want, x64)
    torch.testing.assert_close(gx.double(), wx, **tolerances(dtype))


def test_kl_hand_value(device):
    # KL([0.9, 0.1] || [0.6, 0.4]) = 0.9 ln(0.9/0.6) + 0.1 ln(0.1/0.4)
    p = torch.tensor([[0.9, 0.1]], device=device)
    q = torch.tensor([[0.6, 0.4]], device=device)
    want = 0.9 * math.log(1.5) + 0.1 * math.log(0.25)
    assert lossext.kl_div(q.log(), p, reduction="batchmean").item() == pytest.approx(want, rel=1e-6)
    assert lossext.kl_div(q.log(), p.log(), reduction="sum", log_target=True).item() == pytest.approx(
        want, rel=1e-6
    )


def test_js_hand_value_and_symmetry(device):
    p = torch.tensor([[0.9, 0.1]], dtype=torch.float64, device=device)
    q = torch.tensor([[0.6, 0.4]], dtype=torch.float64, device=device)
    m = 0.5 * (p + q)
    want = 0.5 * (p * (p / m).log()).sum() + 0.5 * (q * (q / m).log()).sum()
    assert lossext.js_div(q.log(), p.log()).item() == pytest.approx(want.item(), rel=1e-12)
    assert lossext.js_div(p.log(), q.log()).item() == pytest.approx(want.item(), rel=1e-12)
    # beta weighs the target P: M = 0.3 P + 0.7 Q
    m = 0.3 * p + 0.7 * q
    want = 0.3 * (p * (p / m).log()).sum() + 0.7 * (q * (q / m).log()).sum()
    assert lossext.js_div(q.log(), p, beta=0.3, log_target=False).item() == pytest.approx(
        want.item(), rel=1e-12
    )
    # identical distributions: 0; disjoint: log 2
    assert lossext.js_div(p.log(), p.log()).item() == pytest.approx(0.0, abs=1e-15)
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64, device=device)
    assert lossext.js_div(a.log(), a.flip(-1).log()).item() == pytest.approx(math.log(2), rel=1e-12)


@pytest.mark.parametrize("log_target", [False, True])
def test_gradcheck(log_target):
    x, t = _pair((3, 5), torch.float64, "cpu", log_target)
    t = t.clamp_min(1e-3) if not log_target else t  # keep away from the kink at 0
    x.requires_grad_(True)
    t.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: lossext.kl_div(a, b, "batchmean", log_target), (x, t))
    assert torch.autograd.gradcheck(lambda a, b: lossext.js_div(a, b, 0.3, "sum", log_target), (x, t))


def test_target_grad_matches_torch():
    x, t = _pair((4, 9), torch.float64, "cpu", False)
    t.requires_grad_(True)
    (g,) = torch.autograd.grad(lossext.kl_div(x, t, "sum"), t)
    t2 = t.detach().requires_grad_(True)
    (w,) = torch.autograd.grad(TF.kl_div(x, t2, reduction="sum"), t2)
    zero = t == 0
    torch.testing.assert_close(g[~zero], w[~zero])
    # torch 2.13 gives nan there (the -inf of d/dt t log t); lossext gives 0.
    assert (g[zero] == 0).all()


def test_compile_matches_eager():
    x, t = _pair((4, 33), torch.float32, "cpu", False)

    def f(a, b):
        return lossext.kl_div(a, b, "batchmean") + lossext.js_div(a, b.clamp_min(1e-6).log())

    got = torch.compile(f, fullgraph=True, backend="aot_eager")(x, t)
    torch.testing.assert_close(got, f(x, t))


def test_compile_inductor():
    x, t = _pair((4, 33), torch.float32, "cpu", True)
    x.requires_grad_(True)
    f = torch.compile(lambda a, b: lossext.kl_div(a, b, "sum", True), fullgraph=True)
    got = f(x, t)
    (g,) = torch.autograd.grad(got, x)
    torch.testing.assert_close(got, TF.kl_div(x, t, reduction="sum", log_target=True))
    torch.testing.assert_close(g, -t.exp())


def test_module_matches_function():
    x, t = _pair((3, 8), torch.float32, "cpu", True)
    torch.testing.assert_close(
        lossext.nn.KLDivLoss("batchmean", True)(x, t), lossext.kl_div(x, t, "batchmean", True)
    )
    torch.testing.assert_close(lossext.nn.JSDivLoss(0.2)(x, t), lossext.js_div(x, t, 0.2))


def test_broadcast_noncontiguous_and_empty():
    x, t = _pair((6, 10), torch.float32, "cpu", False)
    torch.testing.assert_close(lossext.kl_div(x.T, t.T, "sum"), TF.kl_div(x.T, t.T, reduction="sum"))
    torch.testing.assert_close(
        lossext.kl_div(x, t[:1], "sum"), TF.kl_div(x, t[:1].expand_as(x), reduction="sum")
    )
    e = torch.empty(0, 5)
    assert lossext.kl_div(e, e, "sum").item() == 0
    assert math.isnan(lossext.kl_div(e, e, "mean").item())
    assert lossext.kl_div(e, e, "none").shape == (0, 5)


def test_nan_propagates():
    x, t = _pair((2, 5), torch.float32, "cpu", False)
    x[0, 3] = float("nan")
    assert math.isnan(lossext.kl_div(x, t, "sum").item())
    t[0, 3] = float("nan")
    assert math.isnan(lossext.js_div(x, t, log_target=False).item())


def test_bad_inputs():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="Invalid"):
        lossext.kl_div(x, x, reduction="avg")
    with pytest.raises(ValueError, match="beta"):
        lossext.js_div(x, x, beta=1.0)
    with pytest.raises(ValueError, match="target"):
        lossext.kl_div(x, torch.randn(4, 3))
    with pytest.raises(TypeError, match="input"):
        lossext.kl_div(torch.ones(2, 3, dtype=torch.long), x)
    with pytest.raises(TypeError, match="target"):
        lossext.js_div(x, [1.0])
