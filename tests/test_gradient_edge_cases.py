"""Gradients at the edges: nan inputs propagate to the loss and the gradient
as in torch (the pure-torch reference of the same call), an empty 'mean'
(every target ignored) is a nan loss with zero gradients, and finite inputs
never produce a nan anywhere in the backward (anomaly mode)."""

import pytest
import torch

import lossext
from tests.grad_cases import CASES, IDS, kernels_off


def _value_and_grad(fn, x):
    x = x.detach().clone().requires_grad_()
    loss = fn(x)
    loss.sum().backward()
    return loss.detach(), x.grad


@pytest.mark.parametrize("name,fn,make_input", CASES, ids=IDS)
def test_nan_input_propagates_as_in_torch(name, fn, make_input):
    x = make_input().detach()
    x.view(-1)[0] = float("nan")
    loss, grad = _value_and_grad(fn, x)
    with kernels_off():
        ref_loss, ref_grad = _value_and_grad(fn, x)
    assert ref_loss.isnan().any(), "the case must put a nan into the loss"
    torch.testing.assert_close(loss.isnan(), ref_loss.isnan())
    # Never hides a nan that torch shows. The converse is allowed: torch's
    # abs() has gradient 0 at nan, where total variation's kernel says nan.
    hidden = ref_grad.isnan() & ~grad.isnan()
    assert not hidden.any(), f"nan gradient hidden at {hidden.nonzero().tolist()}"
    if name != "total_variation":
        torch.testing.assert_close(grad.isnan(), ref_grad.isnan())


def test_smooth_l1_nan_gradient():
    # torch: nan in, nan gradient out; a sign() taken as 0 would hide it.
    for beta in (1.0, 0.0):
        x = torch.tensor([float("nan"), 3.0], requires_grad=True)
        lossext.smooth_l1_loss(x, torch.zeros(2), "sum", beta=beta).backward()
        assert x.grad[0].isnan() and x.grad[1] == 1.0


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled")
@pytest.mark.parametrize("name,fn,make_input", CASES, ids=IDS)
def test_backward_of_finite_inputs_has_no_nan_under_anomaly_mode(name, fn, make_input):
    x = make_input()
    with torch.autograd.detect_anomaly():
        fn(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def _all_ignored_cases():
    x2 = (4, 3)
    none = torch.full((4,), -100)
    seg_none = torch.full((2, 3, 2), 255)
    yield "cross_entropy", lambda x: lossext.cross_entropy(x, none), x2
    yield "cross_entropy_weight", lambda x: lossext.cross_entropy(x, none, torch.rand(3)), x2
    yield "sigmoid_focal", lambda x: lossext.sigmoid_focal_loss(x, none, reduction="mean"), x2
    yield "softmax_focal", lambda x: lossext.softmax_focal_loss(x, none, reduction="mean"), x2
    yield "softmax_focal_weight", lambda x: lossext.softmax_focal_loss(x, none, weight=torch.rand(3)), x2
    yield "dice_ce", lambda x: lossext.dice_ce_loss(x, seg_none, ignore_index=255), (2, 3, 3, 2)
    yield (
        "dice_ce_weight",
        lambda x: lossext.dice_ce_loss(x, seg_none, ignore_index=255, weight=torch.rand(3)),
        (2, 3, 3, 2),
    )


ALL_IGNORED = list(_all_ignored_cases())


@pytest.mark.parametrize("name,fn,shape", ALL_IGNORED, ids=[c[0] for c in ALL_IGNORED])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_all_targets_ignored_mean_is_nan_with_zero_gradient(name, fn, shape, dtype, fused):
    x = torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(1)).requires_grad_()
    if fused:
        loss, grad = _value_and_grad(fn, x)
    else:
        with kernels_off():
            loss, grad = _value_and_grad(fn, x)
    assert loss.isnan()
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=0)
