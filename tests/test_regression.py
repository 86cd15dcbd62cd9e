import pytest
import torch
import torch.nn.functional as F

import lossext
from tests.conftest import tolerances

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
CASES = [
    ("smooth_l1_loss", "beta", 0.0),
    ("smooth_l1_loss", "beta", 0.5),
    ("smooth_l1_loss", "beta", 1.0),
    ("huber_loss", "delta", 0.5),
    ("huber_loss", "delta", 1.0),
    ("huber_loss", "delta", 2.5),
]
IDS = [f"{n}-{k}={v}" for n, k, v in CASES]


def _inputs(device, dtype, shape=(37, 4)):
    x = (torch.randn(*shape, device=device) * 2).to(dtype)
    t = (torch.randn(*shape, device=device) * 2).to(dtype)
    # Exact kinks: d = 0 and d = +-1 (= beta / delta for the 1.0 cases) and +-0.5.
    x.view(-1)[:5] = torch.tensor([0.0, 1.0, -1.0, 0.5, -0.5], dtype=dtype)
    t.view(-1)[:5] = 0
    return x, t


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name, key, value", CASES, ids=IDS)
def test_matches_torch(device, name, key, value, dtype, reduction):
    x, t = _inputs(device, dtype)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    ts = [t.clone().requires_grad_(), t.clone().requires_grad_()]
    ours = getattr(lossext, name)(xs[0], ts[0], reduction=reduction, **{key: value})
    theirs = getattr(F, name)(xs[1], ts[1], reduction=reduction, **{key: value})
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, **tolerances(dtype))
    grad = torch.rand_like(ours)
    g_ours = torch.autograd.grad(ours, [xs[0], ts[0]], grad)
    g_theirs = torch.autograd.grad(theirs, [xs[1], ts[1]], grad)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, **tolerances(dtype))


def test_broadcast_and_modules(device):
    x = torch.randn(5, 4, device=device, requires_grad=True)
    t = torch.randn(4, device=device)
    with pytest.warns(UserWarning):  # torch warns about the size mismatch
        expected = F.smooth_l1_loss(x, t, beta=0.3)
    torch.testing.assert_close(lossext.smooth_l1_loss(x, t, beta=0.3), expected)
    torch.testing.assert_close(lossext.nn.SmoothL1Loss(beta=0.3)(x, t.expand(5, 4)), expected)
    torch.testing.assert_close(
        lossext.nn.HuberLoss("sum", 0.7)(x, t.expand(5, 4)), F.huber_loss(x, t.expand(5, 4), "sum", 0.7)
    )


def test_empty(device):
    x = torch.zeros(0, 4, device=device, requires_grad=True)
    assert torch.isnan(lossext.smooth_l1_loss(x, x.detach()))  # torch: nan
    assert lossext.huber_loss(x, x.detach(), reduction="sum").item() == 0
    assert lossext.huber_loss(x, x.detach(), reduction="none").shape == (0, 4)


def test_nan_inf(device):
    x = torch.tensor([float("nan"), float("inf"), 1.0], device=device)
    t = torch.zeros(3, device=device)
    for name in ("smooth_l1_loss", "huber_loss"):
        torch.testing.assert_close(
            getattr(lossext, name)(x, t, reduction="none"),
            getattr(F, name)(x, t, reduction="none"),
            equal_nan=True,
        )


def test_gradcheck():
    x = torch.randn(12, dtype=torch.float64, requires_grad=True)
    t = torch.randn(12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: lossext.smooth_l1_loss(a, b, beta=0.7), (x, t))
    assert torch.autograd.gradcheck(lambda a, b: lossext.huber_loss(a, b, "none", 0.4), (x, t))


def test_bad_inputs():
    x = torch.randn(3)
    with pytest.raises(ValueError, match="beta"):
        lossext.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="delta"):
        lossext.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="Invalid"):
        lossext.huber_loss(x, x, reduction="avg")
    with pytest.raises(TypeError, match="input"):
        lossext.smooth_l1_loss(x.long(), x)
    with pytest.raises(TypeError, match="target"):
        lossext.smooth_l1_loss(x, x.long())
    with pytest.raises(
        ValueError, match=r"target of shape \(4,\) does not broadcast with input of shape \(3,\)"
    ):
        lossext.smooth_l1_loss(x, torch.randn(4))
    with pytest.raises(ValueError, match="target .* input"):
        lossext.huber_loss(x, torch.randn(2, 4))
    with pytest.raises(ValueError, match="kind"):
        torch.ops.lossext.regression_fwd(x, x, 5, 1.0)


def test_compile_matches_eager():
    x = torch.randn(30, 4, requires_grad=True)
    t = torch.randn(30, 4)

    def step(a, b):
        return lossext.smooth_l1_loss(a, b, beta=0.2) + lossext.huber_loss(a, b, "sum", 0.5)

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    out_c = compiled(x, t)
    out_e = step(x, t)
    torch.testing.assert_close(out_c, out_e)
    torch.testing.assert_close(torch.autograd.grad(out_c, x)[0], torch.autograd.grad(out_e, x)[0])
