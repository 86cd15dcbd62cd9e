"""Modules named after a peer's take the peer's constructor arguments and
defaults and give the peer's values, checked against the peer's own code."""

import pytest
import torch

import lossext
from benchmarks import peers


def _monai():
    return pytest.importorskip("monai.losses")


def _one_hot(y, c):
    return torch.nn.functional.one_hot(y[:, 0], c).movedim(-1, 1).double()


W = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)
MONAI_DICE_CE = [
    ("defaults", {}, "onehot"),
    ("softmax_onehot_y", dict(softmax=True, to_onehot_y=True), "index"),
    (
        "no_background_batch_weight",
        dict(
            softmax=True,
            to_onehot_y=True,
            include_background=False,
            batch=True,
            weight=W,
            lambda_dice=0.7,
            lambda_ce=1.3,
            label_smoothing=0.1,
        ),
        "index",
    ),
    (
        "squared",
        dict(softmax=True, to_onehot_y=True, squared_pred=True, smooth_nr=1e-3, smooth_dr=1e-3),
        "index",
    ),
    ("sigmoid_jaccard_sum", dict(sigmoid=True, jaccard=True, squared_pred=True, reduction="sum"), "onehot"),
    ("uneven_smoothing", dict(softmax=True, smooth_nr=0.0, smooth_dr=1e-3), "onehot"),
    ("other_act", dict(other_act=torch.tanh, to_onehot_y=True), "index"),
]


@pytest.mark.parametrize("name,kwargs,target_kind", MONAI_DICE_CE, ids=[c[0] for c in MONAI_DICE_CE])
def test_dice_ce_loss_is_monais(name, kwargs, target_kind):
    monai_losses = _monai()
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    y = torch.randint(0, 4, (2, 1, 6, 5))
    y[y == 3] = 0  # a class absent from the target
    t = y if target_kind == "index" else _one_hot(y, 4)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    want = monai_losses.DiceCELoss(**kwargs)(a, t)
    got = lossext.nn.DiceCELoss(**kwargs)(b, t)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got, b)[0], torch.autograd.grad(want, a)[0])


def test_dice_ce_loss_single_channel_is_monais():
    monai_losses = _monai()
    x = torch.randn(3, 1, 5, 5, dtype=torch.float64)
    t = (torch.rand(3, 1, 5, 5) > 0.5).double()
    for kwargs in (
        {},
        dict(sigmoid=True),
        dict(sigmoid=True, weight=torch.tensor([2.0], dtype=torch.float64)),
    ):
        torch.testing.assert_close(
            lossext.nn.DiceCELoss(**kwargs)(x, t), monai_losses.DiceCELoss(**kwargs)(x, t)
        )


def test_lossext_dice_ce_module_keeps_its_own_name():
    x = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 4, 4))
    module = lossext.nn.DiceCrossEntropyLoss(ignore_index=255, lambda_ce=0.5)
    torch.testing.assert_close(module(x, y), lossext.dice_ce_loss(x, y, ignore_index=255, lambda_ce=0.5))


def test_smp_constructor_rejects_what_binary_mode_cannot_take():
    smp = peers.smp_losses()
    for kwargs in (dict(class_weights=[1.0]), dict(classes=[0])):
        if smp is not None:
            with pytest.raises(Exception):
                smp.DiceLoss("binary", **kwargs)
        for module in (lossext.nn.DiceLoss, lossext.nn.JaccardLoss, lossext.nn.TverskyLoss):
            with pytest.raises(ValueError, match="binary"):
                module("binary", **kwargs)


def test_soft_cross_entropy_module_is_not_named_after_smps():
    """smp's SoftCrossEntropyLoss is label smoothing of index targets
    (smooth_factor); lossext's module for probability targets has another name."""
    x = torch.randn(4, 5)
    p = torch.randn(4, 5).softmax(1)
    torch.testing.assert_close(
        lossext.nn.SoftTargetCrossEntropyLoss()(x, p), torch.nn.functional.cross_entropy(x, p)
    )
    assert not hasattr(lossext.nn, "SoftCrossEntropyLoss")
