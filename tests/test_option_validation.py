"""Options are validated before any kernel runs, with messages that name
the argument: integer options must be integers (a float ignore_index would
be truncated by the kernels), scalar options finite where the formulas need
it, dense focal targets probabilities."""

import math

import pytest
import torch

import lossext
from lossext.distributed import global_normalizer

NAN, INF = float("nan"), float("inf")
x2 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
y2 = torch.tensor([0, 1, 2, 1])
seg_x = torch.randn(2, 3, 4)
seg_y = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])
boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]])


INTEGER_OPTIONS = [
    ("cross_entropy", lambda v: lossext.cross_entropy(x2, y2, ignore_index=v)),
    ("sigmoid_focal_loss", lambda v: lossext.sigmoid_focal_loss(x2, y2, reduction="mean", ignore_index=v)),
    ("softmax_focal_loss", lambda v: lossext.softmax_focal_loss(x2, y2, ignore_index=v)),
    ("dice_loss", lambda v: lossext.dice_loss(seg_x, seg_y, "multiclass", ignore_index=v)),
    ("dice_ce_loss", lambda v: lossext.dice_ce_loss(seg_x, seg_y, ignore_index=v)),
    ("nll_loss", lambda v: lossext.functional.nll_loss(x2.log_softmax(1), y2, ignore_index=v)),
]


@pytest.mark.parametrize("name,call", INTEGER_OPTIONS, ids=[c[0] for c in INTEGER_OPTIONS])
def test_ignore_index_must_be_an_int(name, call):
    for bad in (1.5, 1.0, True, "1"):
        with pytest.raises(TypeError, match="ignore_index must be an int"):
            call(bad)
    with pytest.raises(
        ValueError, match="ignore_index must fit in a 64-bit integer, got 1180591620717411303424"
    ):
        call(2**70)
    call(1)  # a real int works
    call(torch.tensor(1))  # and so does an integer 0-d tensor


def test_float_ignore_index_no_longer_mixes_truncation_and_denominator():
    # Was: 0.132, neither the loss with ignore_index=1 nor the reference's.
    with pytest.raises(TypeError, match="ignore_index"):
        lossext.sigmoid_focal_loss(x2, y2, reduction="mean", ignore_index=1.5)


SCALAR_OPTIONS = [
    ("sigmoid_focal gamma", "gamma", lambda v: lossext.sigmoid_focal_loss(x2, y2, gamma=v), (INF, NAN, -1.0)),
    ("softmax_focal gamma", "gamma", lambda v: lossext.softmax_focal_loss(x2, y2, gamma=v), (INF, NAN, -1.0)),
    ("cross_entropy z_loss", "z_loss", lambda v: lossext.cross_entropy(x2, y2, z_loss=v), (INF, NAN, -1.0)),
    (
        "box_iou_loss eps",
        "eps",
        lambda v: lossext.box_iou_loss(boxes, boxes.flip(0), "diou", eps=v),
        (-1.0, NAN, INF),
    ),
    ("distance_box_iou eps", "eps", lambda v: lossext.distance_box_iou(boxes, boxes, eps=v), (-1.0, NAN)),
    (
        "complete_box_iou_loss eps",
        "eps",
        lambda v: lossext.complete_box_iou_loss(boxes, boxes, eps=v),
        (-1e-3, NAN),
    ),
    (
        "dice smooth",
        "smooth",
        lambda v: lossext.dice_loss(seg_x, seg_y, "multiclass", smooth=v),
        (NAN, INF, -1.0),
    ),
    ("dice eps", "eps", lambda v: lossext.dice_loss(seg_x, seg_y, "multiclass", eps=v), (NAN, INF, -1.0)),
    (
        "jaccard smooth",
        "smooth",
        lambda v: lossext.jaccard_loss(seg_x, seg_y, "multiclass", smooth=v),
        (NAN,),
    ),
    (
        "tversky gamma",
        "gamma",
        lambda v: lossext.tversky_loss(seg_x, seg_y, "multiclass", gamma=v),
        (NAN, INF, 0.0),
    ),
    (
        "tversky alpha",
        "alpha",
        lambda v: lossext.tversky_loss(seg_x, seg_y, "multiclass", alpha=v),
        (NAN, -0.5),
    ),
    (
        "dice_ce lambda_ce",
        "lambda_ce",
        lambda v: lossext.dice_ce_loss(seg_x, seg_y, lambda_ce=v),
        (NAN, -1.0),
    ),
    ("smooth_l1 beta", "beta", lambda v: lossext.smooth_l1_loss(x2, x2, beta=v), (NAN, -1.0)),
    ("huber delta", "delta", lambda v: lossext.huber_loss(x2, x2, delta=v), (NAN, 0.0)),
    ("global_normalizer", "num_positives", global_normalizer, (NAN, INF, -INF)),
]


@pytest.mark.parametrize("name,arg,call,bad", SCALAR_OPTIONS, ids=[c[0] for c in SCALAR_OPTIONS])
def test_bad_scalar_option_names_the_argument(name, arg, call, bad):
    for value in bad:
        with pytest.raises(ValueError, match=arg):
            call(value)


@pytest.mark.parametrize("value", ["3", None, [3]])
def test_global_normalizer_takes_numbers_and_tensors_only(value):
    with pytest.raises(TypeError, match="num_positives"):
        global_normalizer(value)
    assert global_normalizer(3) == 3 and global_normalizer(0.0) == 1


def test_sigmoid_focal_gamma_inf_was_silently_zero():
    # The reference gives 97.3 for large logits with gamma=inf (inf * 0 terms);
    # an infinite exponent is rejected rather than returning 0.0.
    with pytest.raises(ValueError, match="gamma must be a finite number, got inf"):
        lossext.sigmoid_focal_loss(torch.tensor([[100.0]]), torch.tensor([[0.0]]), gamma=math.inf)


def test_multiclass_dice_without_classes():
    x = torch.randn(2, 0, 4)
    for mode, target in (
        ("multiclass", torch.zeros(2, 4, dtype=torch.long)),
        ("multilabel", torch.zeros(2, 0, 4)),
    ):
        with pytest.raises(ValueError, match="at least one class"):
            lossext.dice_loss(x, target, mode)
    with pytest.raises(ValueError, match="at least one class"):
        lossext.dice_ce_loss(x, torch.zeros(2, 4, dtype=torch.long))


@pytest.mark.parametrize("fn", [lossext.smooth_l1_loss, lossext.huber_loss])
def test_non_broadcastable_regression_arguments_name_both(fn):
    with pytest.raises(
        ValueError, match=r"target of shape \(2, 5\) does not broadcast with input of shape \(4, 3\)"
    ):
        fn(x2, torch.randn(2, 5))


@pytest.mark.parametrize("bad", [2.0, -0.5, 1.0 + 1e-6])
def test_dense_focal_targets_outside_unit_interval_raise_on_cpu(bad):
    t = torch.rand(4, 3, generator=torch.Generator().manual_seed(2))
    t[1, 2] = bad
    x = torch.randn(4, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"targets \(dense\) must lie in \[0, 1\]"):
        lossext.sigmoid_focal_loss(x, t)
    with torch.no_grad():
        with pytest.raises(ValueError, match="targets"):
            lossext.sigmoid_focal_loss(x, t, reduction="sum")


def test_dense_focal_targets_at_the_bounds_have_exact_gradients():
    """At t in [0, 1] (bounds included) the gradient is the derivative of the
    loss, for integer and non-integer gamma, and matches torchvision's formula
    (the reference)."""
    t = torch.tensor([[0.0, 1.0, 0.3, 0.5, 1.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[2.0, -2.0, 0.7, -30.0, 30.0, 0.0]], dtype=torch.float64, requires_grad=True)
    for gamma in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5):
        assert torch.autograd.gradcheck(lambda z: lossext.sigmoid_focal_loss(z, t, gamma=gamma), (x,))
        got = lossext.sigmoid_focal_loss(x, t, gamma=gamma)
        want = lossext.reference.sigmoid_focal_loss(x, t, gamma=gamma)
        torch.testing.assert_close(got, want)
        (g_got,) = torch.autograd.grad(got.sum(), x)
        (g_want,) = torch.autograd.grad(want.sum(), x)
        torch.testing.assert_close(g_got, g_want)


def test_nan_dense_target_propagates_instead_of_raising():
    t = torch.tensor([[NAN, 0.5]])
    x = torch.zeros(1, 2, requires_grad=True)
    loss = lossext.sigmoid_focal_loss(x, t)
    loss.sum().backward()
    assert loss[0, 0].isnan() and x.grad[0, 0].isnan() and not loss[0, 1].isnan()


@pytest.mark.parametrize("bad", [2.0, -0.5])
def test_focal_kernels_make_out_of_range_dense_targets_nan(bad):
    """What CUDA does (it does not check the targets): the shared element
    math gives a nan loss and gradient for a target outside [0, 1], never a
    gradient that is not the derivative of the loss. Called on the ops
    directly, past the CPU's check."""
    x = torch.tensor([[2.0, -1.0, 0.5]])
    t = torch.tensor([[bad, 0.3, 1.0]])
    for reduce_rows in (False, True):
        loss = torch.ops.lossext.sigmoid_focal_fwd(x, t, None, 0.25, 2.0, -100, 0.0, reduce_rows)
        grad = torch.ops.lossext.sigmoid_focal_bwd(
            torch.ones_like(loss), x, t, None, 0.25, 2.0, -100, 0.0, reduce_rows
        )
        assert loss.view(-1)[0].isnan()
        assert grad[0, 0].isnan() and not grad[0, 1:].isnan().any()
        fused, saved = torch.ops.lossext.sigmoid_focal_fwd_with_grad(
            x, t, None, 0.25, 1.5, -100, 0.0, reduce_rows
        )
        assert fused.view(-1)[0].isnan() and saved[0, 0].isnan() and not saved[0, 1:].isnan().any()
