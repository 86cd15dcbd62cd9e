import math

import pytest
import torch

import lossext
from lossext import reference
from tests.conftest import tolerances

MODES = ["iou", "giou", "diou", "ciou", "eiou", "siou"]
FMTS = ["xyxy", "xywh", "cxcywh"]
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
PAIR_FNS = ["box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"]


def random_xyxy(shape, device, dtype=torch.float64):
    corner = torch.rand(*shape, 2, dtype=torch.float64) * 10
    size = torch.rand(*shape, 2, dtype=torch.float64) * 4.5 + 0.5
    return torch.cat([corner, corner + size], -1).to(device=device, dtype=dtype)


def from_xyxy(boxes, fmt):
    x1, y1, x2, y2 = boxes.unbind(-1)
    if fmt == "xywh":
        return torch.stack([x1, y1, x2 - x1, y2 - y1], -1)
    if fmt == "cxcywh":
        return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)
    return boxes


def loss_and_grads(fn, b1, b2, **kw):
    x1 = b1.detach().clone().requires_grad_()
    x2 = b2.detach().clone().requires_grad_()
    loss = fn(x1, x2, **kw)
    g1, g2 = torch.autograd.grad(loss.sum(), [x1, x2])
    return loss, g1, g2


def grad_tolerances(dtype):
    # Half gradients are rounded to the boxes' dtype on output; float32 ones
    # pass through a few more divisions than the loss.
    return {
        torch.float64: tolerances(torch.float64),
        torch.float32: dict(rtol=1e-4, atol=1e-5),
        torch.float16: dict(rtol=2e-3, atol=2e-3),
        torch.bfloat16: dict(rtol=2e-2, atol=2e-2),
    }[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("mode", MODES)
def test_loss_matches_reference(device, mode, fmt, dtype):
    boxes1 = from_xyxy(random_xyxy((257,), device), fmt).to(dtype)
    boxes2 = from_xyxy(random_xyxy((257,), device), fmt).to(dtype)
    loss, g1, g2 = loss_and_grads(lossext.box_iou_loss, boxes1, boxes2, mode=mode, fmt=fmt)
    # Oracle: the reference in float64 on the very same (rounded) boxes.
    ref, r1, r2 = loss_and_grads(reference.box_iou_loss, boxes1.double(), boxes2.double(), mode=mode, fmt=fmt)
    assert loss.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert g1.dtype == dtype and g2.dtype == dtype
    torch.testing.assert_close(loss.double(), ref, **tolerances(dtype))
    gt = grad_tolerances(dtype)
    torch.testing.assert_close(g1.double(), r1, **gt)
    torch.testing.assert_close(g2.double(), r2, **gt)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_reductions_and_batch_dims(device, reduction):
    boxes1 = random_xyxy((3, 5), device)
    boxes2 = random_xyxy((3, 5), device)
    loss, g1, g2 = loss_and_grads(lossext.box_iou_loss, boxes1, boxes2, mode="ciou", reduction=reduction)
    ref, r1, r2 = loss_and_grads(reference.box_iou_loss, boxes1, boxes2, mode="ciou", reduction=reduction)
    assert loss.shape == ()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(g1, r1)
    torch.testing.assert_close(g2, r2)


def test_torchvision_named_losses(device):
    boxes1, boxes2 = random_xyxy((40,), device), random_xyxy((40,), device)
    for name, mode in [
        ("generalized_box_iou_loss", "giou"),
        ("distance_box_iou_loss", "diou"),
        ("complete_box_iou_loss", "ciou"),
    ]:
        out = getattr(lossext, name)(boxes1, boxes2, reduction="sum", eps=1e-6)
        torch.testing.assert_close(out, reference.box_iou_loss(boxes1, boxes2, mode, "sum", 1e-6))
        module = {
            "giou": lossext.nn.GeneralizedBoxIoULoss,
            "diou": lossext.nn.DistanceBoxIoULoss,
            "ciou": lossext.nn.CompleteBoxIoULoss,
        }[mode](reduction="sum", eps=1e-6)
        torch.testing.assert_close(module(boxes1, boxes2), out)
    torch.testing.assert_close(
        lossext.nn.BoxIoULoss("siou", "mean")(boxes1, boxes2),
        reference.box_iou_loss(boxes1, boxes2, "siou", "mean"),
    )


# --- hand-computed cases (values from the formulas; eps tiny but not 0: CIoU of identical boxes is 0/0 at eps 0) ---

E = math.exp
SQUARE = [0.0, 0.0, 2.0, 2.0]


def _hand(p, q, mode, device):
    b1 = torch.tensor([p], dtype=torch.float64, device=device)
    b2 = torch.tensor([q], dtype=torch.float64, device=device)
    return lossext.box_iou_loss(b1, b2, mode=mode, eps=1e-13).item()


@pytest.mark.parametrize(
    "p, q, expected",
    [
        # identical boxes: IoU = 1, every loss 0
        (SQUARE, SQUARE, dict(iou=0, giou=0, diou=0, ciou=0, eiou=0, siou=0)),
        # disjoint, side by side with a gap of 1: union 2, enclosing 3x1, rho^2 4, c^2 10
        (
            [0, 0, 1, 1],
            [2, 0, 3, 1],
            dict(iou=1, giou=1 + 1 / 3, diou=1.4, ciou=1.4, eiou=1.4, siou=1 + (1 - E(-2 * 4 / 9)) / 2),
        ),
        # one inside the other: IoU 4/16, same centre, dw = dh = 2 over c = 4
        (
            [0, 0, 4, 4],
            [1, 1, 3, 3],
            dict(iou=0.75, giou=0.75, diou=0.75, ciou=0.75, eiou=1.25, siou=0.75 + (1 - E(-0.5)) ** 4),
        ),
        # touching at an edge: no overlap, enclosing 2x1, rho^2 1, c^2 5
        (
            [0, 0, 1, 1],
            [1, 0, 2, 1],
            dict(iou=1, giou=1, diou=1.2, ciou=1.2, eiou=1.2, siou=1 + (1 - E(-2 * 1 / 4)) / 2),
        ),
    ],
    ids=["identical", "disjoint", "inside", "touching"],
)
@pytest.mark.parametrize("mode", MODES)
def test_hand_cases(device, p, q, expected, mode):
    assert _hand(p, q, mode, device) == pytest.approx(expected[mode], abs=1e-10)


def test_hand_ciou_aspect(device):
    # w/h 2 against 1: IoU 1/2, rho^2 1/4 over c^2 5, v = 4/pi^2 (atan 2 - atan 1)^2
    v = 4 / math.pi**2 * (math.atan(2) - math.atan(1)) ** 2
    expected = 0.5 + 0.05 + v * v / (0.5 + v)
    assert _hand([0, 0, 2, 1], [0, 0, 1, 1], "ciou", device) == pytest.approx(expected, abs=1e-10)


def test_hand_siou_diagonal(device):
    # Centres offset by (1, 1): angle cost 1, gamma 1, enclosing 3x3, same shapes.
    expected = 1 - 1 / 7 + (2 * (1 - E(-1 / 9))) / 2
    assert _hand([0, 0, 2, 2], [1, 1, 3, 3], "siou", device) == pytest.approx(expected, abs=1e-10)


def test_hand_pairwise(device):
    boxes1 = torch.tensor([SQUARE, [0.0, 0.0, 1.0, 1.0]], device=device)
    boxes2 = torch.tensor([SQUARE, [2.0, 0.0, 3.0, 1.0], [0.5, 0.5, 1.5, 1.5]], device=device)
    iou = lossext.box_iou(boxes1, boxes2)
    expected = torch.tensor([[1.0, 0.0, 1 / 4], [1 / 4, 0.0, 0.25 / 1.75]], device=device)
    torch.testing.assert_close(iou, expected)
    giou = lossext.generalized_box_iou(boxes1, boxes2)
    assert giou[1, 1].item() == pytest.approx(-1 / 3, abs=1e-6)
    diou = lossext.distance_box_iou(boxes1, boxes2, eps=0.0)
    assert diou[1, 1].item() == pytest.approx(-0.4, abs=1e-6)


# --- degenerate boxes ---

DEGENERATE = {
    "zero_width": ([1.0, 1.0, 1.0, 3.0], [0.0, 0.0, 2.0, 2.0]),
    "zero_height": ([1.0, 1.0, 3.0, 1.0], [0.0, 0.0, 2.0, 2.0]),
    "point": ([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]),
    "two_points": ([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]),
    "inverted": ([2.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 2.0]),
    "same_centre": ([0.0, 0.0, 4.0, 2.0], [1.0, 0.0, 3.0, 2.0]),
    "identical": ([0.5, 0.25, 1.5, 2.0], [0.5, 0.25, 1.5, 2.0]),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("case", list(DEGENERATE))
@pytest.mark.parametrize("mode", MODES)
def test_degenerate_boxes_finite(device, mode, case, dtype):
    p, q = DEGENERATE[case]
    b1 = torch.tensor([p], device=device, dtype=dtype)
    b2 = torch.tensor([q], device=device, dtype=dtype)
    loss, g1, g2 = loss_and_grads(lossext.box_iou_loss, b1, b2, mode=mode)
    assert torch.isfinite(loss).all() and torch.isfinite(g1).all() and torch.isfinite(g2).all()
    ref, r1, r2 = loss_and_grads(reference.box_iou_loss, b1.double(), b2.double(), mode=mode)
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g1.double(), r1, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(g2.double(), r2, rtol=1e-3, atol=1e-3)
    if case == "identical":
        assert loss.item() == pytest.approx(0.0, abs=1e-5)


# CIoU is left out: its backward holds alpha constant (torchvision's rule), so
# it is not the derivative of its forward; test_loss_matches_reference covers it.
@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("mode", [m for m in MODES if m != "ciou"])
def test_gradcheck(mode, fmt):
    boxes1 = from_xyxy(random_xyxy((6,), "cpu"), fmt).requires_grad_()
    boxes2 = from_xyxy(random_xyxy((6,), "cpu"), fmt).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: lossext.box_iou_loss(a, b, mode=mode, fmt=fmt), (boxes1, boxes2)
    )


# --- pairwise ---


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.int64], ids=str)
@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("fn", PAIR_FNS)
def test_pairwise_matches_reference(device, fn, fmt, dtype):
    boxes1 = from_xyxy(random_xyxy((37,), device), fmt)
    boxes2 = from_xyxy(random_xyxy((150,), device), fmt)
    if dtype == torch.int64:
        boxes1, boxes2 = (boxes1 * 10).round(), (boxes2 * 10).round()
    boxes1, boxes2 = boxes1.to(dtype), boxes2.to(dtype)
    out = getattr(lossext, fn)(boxes1, boxes2, fmt=fmt)
    ref = getattr(reference, fn)(boxes1.double(), boxes2.double(), fmt=fmt)
    assert out.shape == (37, 150)
    assert out.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    tol = dict(rtol=1e-9, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.double(), ref, **tol)


@pytest.mark.parametrize("fn", PAIR_FNS)
def test_pairwise_batched_and_broadcast(device, fn):
    boxes1 = random_xyxy((2, 3, 7), device, torch.float32)
    boxes2 = random_xyxy((1, 3, 5), device, torch.float32)
    out = getattr(lossext, fn)(boxes1, boxes2)
    assert out.shape == (2, 3, 7, 5)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(out[i, j], getattr(lossext, fn)(boxes1[i, j], boxes2[0, j]))
    empty = getattr(lossext, fn)(boxes1[:, :, :0], boxes2)
    assert empty.shape == (2, 3, 0, 5)


def test_pairwise_differentiable_through_reference(device):
    boxes1 = random_xyxy((4,), device).requires_grad_()
    boxes2 = random_xyxy((3,), device)
    out = lossext.complete_box_iou(boxes1, boxes2)
    (g,) = torch.autograd.grad(out.sum(), boxes1)
    assert torch.isfinite(g).all()
    torch.testing.assert_close(out.detach(), lossext.complete_box_iou(boxes1.detach(), boxes2))


# --- dtypes, empty, nan ---


def test_half_in_float32_out(device):
    boxes = random_xyxy((8,), device, torch.float16)
    assert lossext.generalized_box_iou_loss(boxes, boxes.flip(0)).dtype == torch.float32
    ints = (random_xyxy((8,), device) * 10).long()
    assert lossext.box_iou_loss(ints, ints.flip(0)).dtype == torch.float32


@pytest.mark.parametrize("mode", MODES)
def test_empty(device, mode):
    boxes1 = torch.zeros(0, 4, device=device, requires_grad=True)
    boxes2 = torch.zeros(0, 4, device=device)
    assert lossext.box_iou_loss(boxes1, boxes2, mode=mode).shape == (0,)
    assert lossext.box_iou_loss(boxes1, boxes2, mode=mode, reduction="sum").item() == 0
    mean = lossext.box_iou_loss(boxes1, boxes2, mode=mode, reduction="mean")
    assert mean.item() == 0 and mean.requires_grad
    (g,) = torch.autograd.grad(mean, boxes1)
    assert g.shape == (0, 4)


@pytest.mark.parametrize("mode", MODES)
def test_nan_and_inf_propagate(device, mode):
    boxes1 = random_xyxy((3,), device)
    boxes2 = random_xyxy((3,), device)
    boxes1[0, 0] = float("nan")
    boxes1[1, 2] = float("inf")
    loss = lossext.box_iou_loss(boxes1, boxes2, mode=mode)
    assert torch.isnan(loss[0])
    # An infinite corner makes an infinite area: IoU 0 or nan, never a crash.
    assert torch.isfinite(loss[2])


# --- errors ---


def test_bad_inputs():
    good = random_xyxy((4,), "cpu")
    with pytest.raises(ValueError, match="boxes1"):
        lossext.box_iou_loss(good[:, :3], good)
    with pytest.raises(ValueError, match="boxes2"):
        lossext.generalized_box_iou_loss(good, good[:, :3])
    with pytest.raises(ValueError, match="same shape"):
        lossext.box_iou_loss(good, good[:3])
    with pytest.raises(ValueError, match="mode"):
        lossext.box_iou_loss(good, good, mode="wiou")
    with pytest.raises(ValueError, match="fmt"):
        lossext.box_iou_loss(good, good, fmt="yxyx")
    with pytest.raises(ValueError, match="Invalid"):
        lossext.complete_box_iou_loss(good, good, reduction="avg")
    with pytest.raises(TypeError, match="boxes1"):
        lossext.box_iou_loss(good.bool(), good)
    with pytest.raises(TypeError, match="boxes2"):
        lossext.box_iou_loss(good, [1, 2, 3, 4])
    with pytest.raises(ValueError, match="boxes1"):
        lossext.box_iou(good[0], good)
    with pytest.raises(ValueError, match="boxes2"):
        lossext.distance_box_iou(good, good[:, :2])
    with pytest.raises(ValueError, match="fmt"):
        lossext.box_iou(good, good, fmt="xyxy2")
    with pytest.raises(ValueError, match="broadcast"):
        lossext.box_iou(good.expand(2, 4, 4), good.expand(3, 4, 4))
    # The ops check their integer codes too.
    with pytest.raises(ValueError, match="mode"):
        torch.ops.lossext.box_loss_fwd(good, good, 9, 0, 1e-7)
    with pytest.raises(ValueError, match="fmt"):
        torch.ops.lossext.box_pairwise(good, good, 0, 7, 1e-7)


# --- op contracts and compile ---


@pytest.mark.parametrize("mode", ["giou", "ciou", "siou"])
def test_compile_matches_eager(mode):
    boxes1 = random_xyxy((33,), "cpu", torch.float32).requires_grad_()
    boxes2 = random_xyxy((33,), "cpu", torch.float32)

    def step(b1, b2):
        loss = lossext.box_iou_loss(b1, b2, mode=mode, reduction="mean", fmt="xywh")
        return loss, lossext.box_iou(b1.detach(), b2)

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    loss_c, iou_c = compiled(boxes1, boxes2)
    (g_c,) = torch.autograd.grad(loss_c, boxes1)
    loss_e, iou_e = step(boxes1, boxes2)
    (g_e,) = torch.autograd.grad(loss_e, boxes1)
    torch.testing.assert_close(loss_c, loss_e)
    torch.testing.assert_close(g_c, g_e)
    torch.testing.assert_close(iou_c, iou_e)


def test_compile_inductor():
    boxes1 = random_xyxy((20,), "cpu", torch.float32).requires_grad_()
    boxes2 = random_xyxy((20,), "cpu", torch.float32)
    fn = torch.compile(lambda a, b: lossext.complete_box_iou_loss(a, b, reduction="sum"), fullgraph=True)
    loss = fn(boxes1, boxes2)
    (g,) = torch.autograd.grad(loss, boxes1)
    ref, r1, _ = loss_and_grads(reference.complete_box_iou_loss, boxes1, boxes2, reduction="sum")
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(g, r1)


@pytest.mark.parametrize("name", ["generalized", "distance", "complete"])
@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_named_losses_take_fmt(name, fmt):
    """generalized/distance/complete_box_iou_loss take fmt, as box_iou_loss and box_iou do."""
    xy = torch.rand(6, 2, dtype=torch.float64) * 10
    wh = torch.rand(6, 2, dtype=torch.float64) * 5 + 0.5
    xyxy = [torch.cat([xy, xy + wh], 1), torch.cat([xy + 1, xy + 1 + wh.flip(1)], 1)]
    if fmt == "xywh":
        given = [torch.cat([b[:, :2], b[:, 2:] - b[:, :2]], 1) for b in xyxy]
    else:
        given = [torch.cat([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], 1) for b in xyxy]
    fn = getattr(lossext, f"{name}_box_iou_loss")
    torch.testing.assert_close(fn(*given, fmt=fmt), fn(*xyxy))
    module = {
        "generalized": lossext.nn.GeneralizedBoxIoULoss,
        "distance": lossext.nn.DistanceBoxIoULoss,
        "complete": lossext.nn.CompleteBoxIoULoss,
    }[name](fmt=fmt)
    torch.testing.assert_close(module(*given), fn(*xyxy))
