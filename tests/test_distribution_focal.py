import pytest
import torch
import torch.nn.functional as F

import lossext
from lossext import reference
from tests.conftest import tolerances


def _mmdet_dfl(pred, label):
    """mmdet's distribution_focal_loss (models/losses/gfocal_loss.py) written out."""
    dis_left = label.long()
    dis_right = dis_left + 1
    weight_left = dis_right.float() - label
    weight_right = label - dis_left.float()
    return (
        F.cross_entropy(pred, dis_left, reduction="none") * weight_left
        + F.cross_entropy(pred, dis_right, reduction="none") * weight_right
    )


def _mmdet_reduce(loss, weight, reduction, avg_factor):
    """mmdet's weight_reduce_loss."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]
    if reduction == "mean":
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    return loss


def _ultralytics_dfl(pred_dist, target, reg_max):
    """ultralytics' DFLoss.__call__ (utils/loss.py) written out (on a copy: it clamps in place)."""
    target = target.clone().clamp_(0, reg_max - 1 - 0.01)
    tl = target.long()
    tr = tl + 1
    wl = tr - target
    wr = 1 - wl
    return (
        F.cross_entropy(pred_dist, tl.view(-1), reduction="none").view(tl.shape) * wl
        + F.cross_entropy(pred_dist, tr.view(-1), reduction="none").view(tl.shape) * wr
    ).mean(-1, keepdim=True)


def _inputs(n, bins, device, dtype=torch.float32, margin=0.0):
    pred = (torch.randn(n, bins, dtype=torch.float64) * 3).to(dtype).to(device)
    label = (torch.rand(n, dtype=torch.float64) * (bins - 1 - margin)).to(device)
    if dtype != torch.float64:
        label = label.float()
    return pred, label


@pytest.mark.parametrize("bins", [2, 5, 17, 33, 100])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_matches_mmdet(bins, reduction, device):
    # mmdet's labels stay below n (bbox2distance clamps to n - 0.01): its formula indexes n + 1 at n.
    pred, label = _inputs(300, bins, device, torch.float64, margin=0.01)
    label[:4] = torch.tensor([0.0, 0.5, bins - 2.0, bins - 1.01], dtype=torch.float64)  # integers included
    weight = torch.rand(300, dtype=torch.float64, device=device)
    pred.requires_grad_()
    for w in (None, weight):
        out = lossext.distribution_focal_loss(pred, label, w, reduction)
        want = _mmdet_reduce(_mmdet_dfl(pred, label), w, reduction, None)
        torch.testing.assert_close(out, want, **tolerances(torch.float64))
        g = torch.randn_like(out)
        (got,) = torch.autograd.grad((out * g).sum(), pred)
        (exp,) = torch.autograd.grad((want * g).sum(), pred)
        torch.testing.assert_close(got, exp, **tolerances(torch.float64))


def test_avg_factor_and_module(device):
    pred, label = _inputs(64, 17, device, margin=0.01)
    weight = torch.rand(64, device=device)
    want = _mmdet_reduce(_mmdet_dfl(pred, label), weight, "mean", 10.0)
    torch.testing.assert_close(lossext.distribution_focal_loss(pred, label, weight, avg_factor=10.0), want)
    module = lossext.nn.DistributionFocalLoss(loss_weight=0.25)
    torch.testing.assert_close(module(pred, label, weight, avg_factor=10.0), 0.25 * want)
    torch.testing.assert_close(
        module(pred, label, reduction_override="sum"), 0.25 * _mmdet_dfl(pred, label).sum()
    )
    with pytest.raises(lossext.ArgumentError, match="avg_factor"):
        lossext.distribution_focal_loss(pred, label, reduction="sum", avg_factor=2.0)


def test_label_on_last_bin_is_the_limit(device):
    pred = torch.randn(3, 17, dtype=torch.float64, device=device, requires_grad=True)
    label = torch.full((3,), 16.0, dtype=torch.float64, device=device)
    out = lossext.distribution_focal_loss(pred, label, reduction="none")
    torch.testing.assert_close(out, F.cross_entropy(pred, label.long(), reduction="none"))
    near = lossext.distribution_focal_loss(pred, label - 1e-9, reduction="none")
    torch.testing.assert_close(out, near, atol=1e-7, rtol=0)
    (g,) = torch.autograd.grad(out.sum(), pred)
    (e,) = torch.autograd.grad(F.cross_entropy(pred, label.long(), reduction="sum"), pred)
    torch.testing.assert_close(g, e)


@pytest.mark.parametrize("reg_max", [16, 8, 40])
def test_matches_ultralytics(reg_max, device):
    n = 50
    pred = torch.randn(n * 4, reg_max, device=device, requires_grad=True)
    target = torch.rand(n, 4, device=device) * (reg_max + 2) - 1  # some outside, clamped
    target[0] = torch.tensor([0.0, reg_max - 1.0, 3.0, 100.0])
    before = target.clone()
    out = lossext.dfl_loss(pred, target, reg_max)
    want = _ultralytics_dfl(pred, target, reg_max)
    assert out.shape == (n, 1) and torch.equal(target, before)
    torch.testing.assert_close(out, want)
    (g,) = torch.autograd.grad(out.sum(), pred)
    (e,) = torch.autograd.grad(want.sum(), pred)
    torch.testing.assert_close(g, e)
    torch.testing.assert_close(lossext.nn.DFLoss(reg_max)(pred, target), out)


def test_gradcheck(device):
    pred, label = _inputs(9, 6, device, torch.float64)
    label[0] = 5.0
    label[1] = 0.0
    pred.requires_grad_()
    w = torch.rand(9, dtype=torch.float64, device=device)
    assert torch.autograd.gradcheck(lambda x: lossext.distribution_focal_loss(x, label, w, "none"), (pred,))
    assert torch.autograd.gradgradcheck(
        lambda x: lossext.distribution_focal_loss(x, label, w, "sum"), (pred,)
    )
    long_pred, long_label = _inputs(3, 45, device, torch.float64)
    long_pred.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: lossext.distribution_focal_loss(x, long_label), (long_pred,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision(dtype, device):
    pred, label = _inputs(200, 16, device, dtype)
    pred.requires_grad_()
    out = lossext.distribution_focal_loss(pred, label, reduction="none")
    assert out.dtype == dtype
    x = pred.detach().float().requires_grad_()
    want = reference.distribution_focal_loss(x, label, reduction="none")
    torch.testing.assert_close(out.float(), want, **tolerances(dtype))
    g = torch.rand(200, device=device)
    (got,) = torch.autograd.grad((out.float() * g).sum(), pred)
    (exp,) = torch.autograd.grad((want * g).sum(), x)
    assert got.dtype == dtype
    torch.testing.assert_close(got.float(), exp, **tolerances(dtype))


def test_strided_pred_and_other_label_dtype(device):
    base = torch.randn(17, 40, dtype=torch.float64, device=device)
    pred = base.t()  # (40, 17), not contiguous
    label = (torch.rand(40, device=device) * 16).half()
    out = lossext.distribution_focal_loss(pred, label, reduction="none")
    torch.testing.assert_close(out, _mmdet_dfl(pred.contiguous(), label.double()))


def test_empty(device):
    pred = torch.randn(0, 17, device=device, requires_grad=True)
    label = torch.zeros(0, device=device)
    assert lossext.distribution_focal_loss(pred, label, reduction="sum").item() == 0
    assert lossext.distribution_focal_loss(pred, label, reduction="none").shape == (0,)
    assert torch.isnan(lossext.distribution_focal_loss(pred, label))  # mean of nothing, as torch
    lossext.distribution_focal_loss(pred, label, reduction="sum").backward()
    assert pred.grad.shape == (0, 17)
    assert lossext.dfl_loss(torch.randn(0, 16, device=device), torch.zeros(0, 4, device=device)).shape == (
        0,
        1,
    )


@pytest.mark.parametrize("bad", [-0.5, 16.5, float("nan"), float("inf")])
def test_label_outside_the_bins(bad, device):
    pred, label = _inputs(20, 17, device)
    label[7] = bad
    if device.type == "cpu":
        with pytest.raises(ValueError, match=r"label must lie in \[0, bins - 1\] = \[0, 16\].*position 7"):
            lossext.distribution_focal_loss(pred, label)
    else:
        pred.requires_grad_()
        out = lossext.distribution_focal_loss(pred, label, reduction="none")
        assert torch.isnan(out[7]) and torch.isfinite(out[torch.arange(20, device=device) != 7]).all()
        out.sum().backward()
        assert torch.isnan(pred.grad[7]).all() and torch.isfinite(pred.grad[:7]).all()


def test_bad_arguments(device):
    pred, label = _inputs(4, 17, device)
    cases = [
        ((pred[0], label), lossext.ArgumentError, "pred must have shape"),
        ((pred[:, :1], label), lossext.ArgumentError, "bins >= 2"),
        ((pred, label[:3]), lossext.ArgumentError, "label must have shape"),
        ((pred, label.long()), TypeError, "label must be a floating"),
        ((pred.long(), label), TypeError, "pred must be a floating"),
        (([1.0], label), TypeError, "pred must be a torch.Tensor"),
    ]
    for args, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            lossext.distribution_focal_loss(*args)
    with pytest.raises(lossext.ArgumentError, match="Invalid reduction"):
        lossext.distribution_focal_loss(pred, label, reduction="batchmean")
    with pytest.raises(lossext.ArgumentError, match="weight must have shape"):
        lossext.distribution_focal_loss(pred, label, torch.ones(5, device=device))
    with pytest.raises(TypeError, match="weight must be a floating"):
        lossext.distribution_focal_loss(pred, label, torch.ones(4, dtype=torch.long, device=device))
    target = torch.rand(1, 4, device=device)
    with pytest.raises(lossext.ArgumentError, match="reg_max must be an integer >= 2"):
        lossext.dfl_loss(pred[:, :16], target, 1)
    with pytest.raises(lossext.ArgumentError, match=r"pred_dist must have shape \(N \* 4, reg_max = 16\)"):
        lossext.dfl_loss(pred, target)
    with pytest.raises(lossext.ArgumentError, match="target must have shape"):
        lossext.dfl_loss(pred[:, :16], torch.rand(2, 4, device=device))
    with pytest.raises(TypeError, match="target must be a floating"):
        lossext.dfl_loss(pred[:, :16], target.long())


def test_kernel_argument_checks():
    pred, label = _inputs(4, 17, torch.device("cpu"))
    op = torch.ops.lossext.distribution_focal_fwd
    with pytest.raises(ValueError, match="pred must be 2-D"):
        op(pred[0], label)
    with pytest.raises(ValueError, match="at least 2 bins"):
        op(pred[:, :1], label)
    with pytest.raises(ValueError, match="label must have shape"):
        op(pred, label[:2])
    with pytest.raises(TypeError, match="label must be a floating"):
        op(pred, label.long())
    with pytest.raises(TypeError, match="pred must be float16"):
        op(pred.long(), label)
    _, lse = op(pred, label)
    with pytest.raises(ValueError, match="grad_loss must have shape"):
        torch.ops.lossext.distribution_focal_bwd(torch.ones(3), pred, label, lse)
    with pytest.raises(ValueError, match="lse must have shape"):
        torch.ops.lossext.distribution_focal_bwd(torch.ones(4), pred, label, lse[:2])
