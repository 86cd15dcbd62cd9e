"""Class-weight and alpha tensors that require grad get their gradient, from
the fused ops as from the reference (torch's cross-entropy refuses one; the
fused losses compute it)."""

import pytest
import torch

import lossext

gen = torch.Generator().manual_seed(11)


def _weights(c):
    return (torch.rand(c, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()


def _logits(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_()


def _cases():
    y = torch.randint(0, 4, (6,), generator=gen)
    y[2] = -100
    prob = torch.softmax(torch.randn(6, 4, generator=gen, dtype=torch.float64), 1)
    fg = torch.tensor([0, -1, 3, 1, -100, 2])
    dense = torch.rand(6, 4, generator=gen, dtype=torch.float64)
    seg = torch.randint(0, 4, (2, 3, 2), generator=gen)
    yield "cross_entropy", lambda x, w: lossext.cross_entropy(x, y, w, label_smoothing=0.1), (6, 4)
    yield "cross_entropy_prob", lambda x, w: lossext.cross_entropy(x, prob, w, reduction="sum"), (6, 4)
    yield (
        "sigmoid_focal_index",
        lambda x, w: lossext.sigmoid_focal_loss(x, fg, weight=w, reduction="mean"),
        (6, 4),
    )
    yield "sigmoid_focal_dense", lambda x, w: lossext.sigmoid_focal_loss(x, dense, weight=w), (6, 4)
    yield (
        "softmax_focal_weight",
        lambda x, w: lossext.softmax_focal_loss(x, y, weight=w, reduction="sum"),
        (6, 4),
    )
    yield "softmax_focal_alpha", lambda x, w: lossext.softmax_focal_loss(x, y, alpha=w / 2), (6, 4)
    yield "dice_ce", lambda x, w: lossext.dice_ce_loss(x, seg, weight=w), (2, 4, 3, 2)


CASES = list(_cases())


@pytest.mark.parametrize("name,fn,shape", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("grad_mode", ["inference_input", "training"])
def test_weight_gradient(name, fn, shape, grad_mode):
    x = _logits(*shape)
    if grad_mode == "inference_input":
        x.requires_grad_(False)
    w = _weights(shape[1])
    assert torch.autograd.gradcheck(fn, (x, w), fast_mode=True)
    loss = fn(x, w)
    loss.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_dice_ce_weight_gradient_has_both_terms():
    """The Dice term alone would leave out the cross-entropy's share."""
    x = _logits(2, 4, 3, 2)
    seg = torch.randint(0, 4, (2, 3, 2), generator=gen)
    w = _weights(4)
    (got,) = torch.autograd.grad(lossext.dice_ce_loss(x, seg, weight=w), w)
    (dice,) = torch.autograd.grad(lossext.dice_ce_loss(x, seg, weight=w, lambda_ce=0.0), w)
    (ce,) = torch.autograd.grad(lossext.cross_entropy(x, seg, w), w)
    torch.testing.assert_close(got, dice + ce)
