import pytest
import torch

import lossext
from lossext import reference
from tests.conftest import tolerances

try:
    import kornia.losses as kornia_losses
except Exception:  # noqa: BLE001
    kornia_losses = None

SHAPES = [(2, 3, 9, 13), (5, 6), (4, 1, 7), (1, 1, 1, 6), (1, 6, 1), (3, 1, 1), (2, 2, 33, 130)]
ISO = [(1.0, 0.0), (2.0, 0.0), (0.5, 1e-3), (1.5, 0.0), (1.0, 1e-6)]


def _kornia_formula(x, reduction):
    """kornia 0.9's definition written out: per (*) plane, each direction's
    absolute differences summed, or averaged over their own count."""
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(-2)
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(-2)
    if reduction == "mean":
        return (dy.mean(-1) if dy.shape[-1] else dy.sum(-1)) + (dx.mean(-1) if dx.shape[-1] else dx.sum(-1))
    return dy.sum(-1) + dx.sum(-1)


def test_hand_values():
    img = torch.tensor([[0.0, 1.0], [3.0, 7.0]])
    # dy: |3-0| + |7-1| = 9 over 2; dx: |1-0| + |7-3| = 5 over 2.
    assert lossext.total_variation_loss(img).item() == 14.0
    assert lossext.total_variation_loss(img, "mean").item() == 7.0
    # One cell, dx = 1, dy = 3.
    torch.testing.assert_close(lossext.total_variation_loss(img, isotropic=True), torch.tensor(10.0).sqrt())
    torch.testing.assert_close(
        lossext.total_variation_loss(img, isotropic=True, beta=2.0), torch.tensor(10.0)
    )
    torch.testing.assert_close(
        lossext.total_variation_loss(img, "mean", isotropic=True, beta=3.0, eps=6.0), torch.tensor(64.0)
    )
    img = img.clone().requires_grad_()
    lossext.total_variation_loss(img, isotropic=True).backward()
    s = 10.0**0.5
    # d/dI00 = -(dx + dy)/s, d/dI01 = dx/s, d/dI10 = dy/s, I11 is in no cell.
    torch.testing.assert_close(img.grad, torch.tensor([[-4 / s, 1 / s], [3 / s, 0.0]]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_anisotropic_matches_kornia_formula(shape, reduction, device):
    x = torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
    out = lossext.total_variation_loss(x, reduction)
    expected = _kornia_formula(x, reduction)
    assert out.shape == x.shape[:-2] and out.dtype == x.dtype
    torch.testing.assert_close(out, expected, **tolerances(torch.float64))
    w = torch.randn_like(out)
    (g,) = torch.autograd.grad((out * w).sum(), x)
    (e,) = torch.autograd.grad((expected * w).sum(), x)
    torch.testing.assert_close(g, e, **tolerances(torch.float64))


@pytest.mark.skipif(kornia_losses is None, reason="kornia not importable")
@pytest.mark.parametrize("shape", [(2, 3, 9, 13), (3, 8, 8), (6, 5), (2, 1, 1, 4)])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_matches_kornia(shape, reduction):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    out, expected = lossext.total_variation_loss(x, reduction), kornia_losses.total_variation(x, reduction)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(
        torch.autograd.grad(out.sum(), x)[0], torch.autograd.grad(expected.sum(), x)[0]
    )
    if reduction == "sum":
        torch.testing.assert_close(lossext.nn.TotalVariationLoss()(x), kornia_losses.TotalVariation()(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("iso", [None, *ISO])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_against_reference(dtype, iso, reduction, device):
    x = torch.randn(2, 3, 17, 23, device=device).to(dtype).requires_grad_()
    kwargs = dict(isotropic=True, beta=iso[0], eps=iso[1]) if iso else {}
    out = lossext.total_variation_loss(x, reduction, **kwargs)
    # The oracle in float64 on the same (rounded) pixels: the kernel accumulates in float32.
    x64 = x.detach().double().requires_grad_()
    expected = reference.total_variation_loss(x64, reduction, **kwargs)
    assert out.dtype == dtype and out.shape == (2, 3)
    tol = tolerances(dtype)
    torch.testing.assert_close(out.double(), expected.to(dtype).double(), **tol)
    w = torch.randn(2, 3, device=device, dtype=torch.float64)
    (g,) = torch.autograd.grad((out.double() * w).sum(), x)
    (e,) = torch.autograd.grad((expected * w).sum(), x64)
    assert g.dtype == dtype
    torch.testing.assert_close(g.double(), e.to(dtype).double(), **tol)


def test_half_accumulates_in_float():
    # 256 x 256 differences of about 1: a half running sum would stall at 2048.
    x = (torch.arange(256 * 256).reshape(256, 256) % 2).half()
    out = lossext.total_variation_loss(x, "mean")
    expected = reference.total_variation_loss(x.double(), "mean")
    torch.testing.assert_close(out.double(), expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("iso", [None, *ISO])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradcheck(iso, reduction):
    x = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    kwargs = dict(isotropic=True, beta=iso[0], eps=iso[1]) if iso else {}
    assert torch.autograd.gradcheck(lambda t: lossext.total_variation_loss(t, reduction, **kwargs), (x,))


def test_compile_fullgraph():
    x = torch.randn(2, 3, 10, 12, requires_grad=True)

    def f(t):
        return (
            lossext.total_variation_loss(t, "mean", isotropic=True).sum()
            + lossext.total_variation_loss(t).sum()
        )

    out = torch.compile(f, fullgraph=True)(x)
    (g,) = torch.autograd.grad(out, x)
    e_out = f(x)
    torch.testing.assert_close(out, e_out)
    torch.testing.assert_close(g, torch.autograd.grad(e_out, x)[0])


def test_layouts_and_broadcast_gradient(device):
    base = torch.randn(2, 11, 9, 3, device=device)
    x = base.permute(0, 3, 1, 2).requires_grad_()  # channels-last (B, C, H, W) view
    xc = x.detach().contiguous().requires_grad_()
    for kwargs in ({}, dict(isotropic=True)):
        out, ref = lossext.total_variation_loss(x, **kwargs), lossext.total_variation_loss(xc, **kwargs)
        torch.testing.assert_close(out, ref)
        # .mean() hands the backward a stride-0 gradient.
        torch.testing.assert_close(
            torch.autograd.grad(out.mean(), x)[0], torch.autograd.grad(ref.mean(), xc)[0]
        )


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 3, 0, 4), (2, 3, 4, 0), (3, 1, 1), (1, 1)])
@pytest.mark.parametrize("iso", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_empty_and_single_pixel(shape, iso, reduction, device):
    x = torch.randn(shape, device=device, requires_grad=True)
    out = lossext.total_variation_loss(x, reduction, isotropic=iso)
    assert out.shape == shape[:-2]
    assert torch.equal(out, torch.zeros_like(out))
    if out.numel():
        (g,) = torch.autograd.grad(out.sum(), x)
        assert torch.equal(g, torch.zeros_like(x))


def test_flat_image_has_finite_zero_gradient(device):
    x = torch.full((2, 6, 7), 3.0, device=device, requires_grad=True)
    for kwargs in ({}, dict(isotropic=True), dict(isotropic=True, beta=0.5)):
        out = lossext.total_variation_loss(x, **kwargs)
        (g,) = torch.autograd.grad(out.sum(), x)
        assert torch.equal(out, torch.zeros_like(out)) and torch.equal(g, torch.zeros_like(g))


@pytest.mark.parametrize("iso", [False, True])
def test_nan_stays_in_its_plane(iso, device):
    x = torch.randn(3, 5, 6, device=device)
    x[1, 2, 3] = float("nan")
    x.requires_grad_()
    out = lossext.total_variation_loss(x, isotropic=iso)
    assert torch.isnan(out[1]) and torch.isfinite(out[[0, 2]]).all()
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.isnan(g[1]).any() and torch.isfinite(g[[0, 2]]).all()


def test_huge_values():
    x = torch.tensor([[1e30, -1e30], [1e30, -1e30]])
    torch.testing.assert_close(lossext.total_variation_loss(x), torch.tensor(4e30))
    # Isotropic squares overflow float32 exactly as the formula does.
    assert torch.isinf(lossext.total_variation_loss(x, isotropic=True))


def test_integer_input_is_promoted():
    x = torch.tensor([[0, 200], [255, 3]], dtype=torch.uint8)
    out = lossext.total_variation_loss(x)
    assert out.dtype == torch.float32 and out.item() == 255 + 197 + 200 + 252


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        ((torch.randn(5),), {}, ValueError, "img"),
        (([[1.0]],), {}, TypeError, "img"),
        ((torch.ones(3, 3, dtype=torch.bool),), {}, TypeError, "img"),
        ((torch.randn(3, 3),), dict(reduction="none"), ValueError, "reduction"),
        ((torch.randn(3, 3),), dict(beta=2.0), ValueError, "isotropic"),
        ((torch.randn(3, 3),), dict(eps=1e-3), ValueError, "isotropic"),
        ((torch.randn(3, 3),), dict(isotropic=True, beta=0.0), ValueError, "beta"),
        ((torch.randn(3, 3),), dict(isotropic=True, beta=float("inf")), ValueError, "beta"),
        ((torch.randn(3, 3),), dict(isotropic=True, eps=-1.0), ValueError, "eps"),
        ((torch.randn(3, 3),), dict(isotropic=1), TypeError, "isotropic"),
    ],
)
def test_bad_inputs(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        lossext.total_variation_loss(*args, **kwargs)


def test_op_rejects_bad_arguments():
    with pytest.raises(ValueError, match="img"):
        torch.ops.lossext.total_variation_fwd(torch.randn(4), False, False, 1.0, 0.0)
    with pytest.raises(ValueError, match="beta"):
        torch.ops.lossext.total_variation_fwd(torch.randn(4, 4), True, False, -1.0, 0.0)
    with pytest.raises(ValueError, match="grad_loss"):
        torch.ops.lossext.total_variation_bwd(torch.randn(3), torch.randn(2, 4, 4), False, False, 1.0, 0.0)


def test_module():
    x = torch.randn(2, 3, 8, 8)
    m = lossext.nn.TotalVariationLoss("mean", isotropic=True, beta=1.5, eps=1e-4)
    torch.testing.assert_close(m(x), lossext.total_variation_loss(x, "mean", True, 1.5, 1e-4))
