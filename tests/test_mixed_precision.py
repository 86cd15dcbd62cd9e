"""Mixed-precision training: float16 / bfloat16 logits, the loss multiplied
by a loss scale (as torch.amp.GradScaler does) and the gradient divided by it
again, against the float64 gradient of the same (rounded) inputs.

Every gradient element whose scaled value is a normal number of the dtype
must come back to within the dtype's rounding (plus float32 accumulation):
a derivative stored in half precision before the scale multiplies it would
underflow to 0 or lose its digits. Under torch.autocast the losses are
returned in float32, as torch's own are, so GradScaler's 2^16 does not
overflow a float16 loss."""

import contextlib

import pytest
import torch

import lossext
from tests.conftest import DEVICES

HALF = [torch.float16, torch.bfloat16]


def _cases():
    g = torch.Generator().manual_seed(17)
    idx = torch.randint(0, 6, (32,), generator=g)
    idx[3] = -100
    fg = torch.randint(-1, 6, (32,), generator=g)
    prob = torch.softmax(torch.randn(32, 6, generator=g, dtype=torch.float64), 1)
    dense = (torch.rand(32, 6, generator=g, dtype=torch.float64) > 0.8).double()
    reg_t = torch.randn(32, 6, generator=g, dtype=torch.float64)
    log_p = torch.log_softmax(torch.randn(32, 6, generator=g, dtype=torch.float64), 1)
    seg = torch.randint(0, 6, (2, 4, 4), generator=g)
    mask = (torch.rand(2, 6, 4, 4, generator=g) > 0.6).double()
    xy = torch.rand(32, 2, generator=g, dtype=torch.float64) * 8
    boxes2 = torch.cat([xy, xy + torch.rand(32, 2, generator=g, dtype=torch.float64) * 4 + 1], 1)

    def same(t, x):
        # Float targets are rounded to bfloat16 once (exact in float16 too),
        # so that the half-precision and the float64 runs see the same values.
        return t.to(torch.bfloat16).to(device=x.device, dtype=x.dtype)

    def on(index, x):
        return index.to(x.device)

    # RetinaNet-like logits: most anchors are confident negatives.
    retina = dict(low=-9.0, high=-1.0)
    logits = dict(low=-4.0, high=4.0)
    yield (
        "cross_entropy",
        lambda x: lossext.cross_entropy(x, on(idx, x), label_smoothing=0.1),
        (32, 6),
        logits,
    )
    yield "cross_entropy_prob", lambda x: lossext.cross_entropy(x, same(prob, x)), (32, 6), logits
    yield (
        "sigmoid_focal_index",
        lambda x: lossext.sigmoid_focal_loss(x, on(fg, x), reduction="mean"),
        (32, 6),
        retina,
    )
    yield (
        "sigmoid_focal_dense",
        lambda x: lossext.sigmoid_focal_loss(x, same(dense, x), reduction="sum"),
        (32, 6),
        retina,
    )
    yield "softmax_focal", lambda x: lossext.softmax_focal_loss(x, on(idx, x)), (32, 6), logits
    yield "smooth_l1", lambda x: lossext.smooth_l1_loss(x, same(reg_t, x), beta=0.5), (32, 6), logits
    yield "huber", lambda x: lossext.huber_loss(x, same(reg_t, x), delta=0.5), (32, 6), logits
    yield (
        "kl_div",
        lambda x: lossext.kl_div(x, same(log_p.exp(), x), "batchmean"),
        (32, 6),
        dict(low=-4.0, high=-0.1),
    )
    yield "js_div", lambda x: lossext.js_div(x, same(log_p, x)), (32, 6), dict(low=-4.0, high=-0.1)
    for mode in ("giou", "ciou", "siou"):
        yield (
            f"box_{mode}",
            lambda b, m=mode: lossext.box_iou_loss(b, same(boxes2, b), m, "mean"),
            "boxes",
            None,
        )
    yield "total_variation", lambda x: lossext.total_variation_loss(x, "mean").sum(), (2, 8, 8), logits
    yield (
        "total_variation_isotropic",
        lambda x: lossext.total_variation_loss(x, "mean", isotropic=True, beta=1.5, eps=0.01).sum(),
        (2, 8, 8),
        logits,
    )
    yield (
        "jaccard_log",
        lambda x: lossext.jaccard_loss(x, same(mask, x), "multilabel", log_loss=True),
        (2, 6, 4, 4),
        logits,
    )
    yield "dice_multiclass", lambda x: lossext.dice_loss(x, on(seg, x), "multiclass"), (2, 6, 4, 4), logits
    yield "dice_multilabel", lambda x: lossext.dice_loss(x, same(mask, x), "multilabel"), (2, 6, 4, 4), logits
    yield (
        "tversky",
        lambda x: lossext.tversky_loss(x, on(seg, x), "multiclass", alpha=0.3, beta=0.7),
        (2, 6, 4, 4),
        logits,
    )
    yield "dice_ce", lambda x: lossext.dice_ce_loss(x, on(seg, x)), (2, 6, 4, 4), logits


CASES = list(_cases())


def _input(shape, bounds, dtype):
    """float64 values exactly representable in dtype."""
    g = torch.Generator().manual_seed(23)
    if shape == "boxes":
        xy = torch.rand(32, 2, generator=g, dtype=torch.float64) * 8
        x = torch.cat([xy, xy + torch.rand(32, 2, generator=g, dtype=torch.float64) * 4 + 1], 1)
    else:
        x = (
            torch.rand(*shape, generator=g, dtype=torch.float64) * (bounds["high"] - bounds["low"])
            + bounds["low"]
        )
    return x.to(dtype).double()


def _scaled_grad(fn, x64, dtype, scale, autocast, device):
    x = x64.to(device=device, dtype=dtype).requires_grad_()
    ctx = torch.autocast(device, dtype=dtype) if autocast else contextlib.nullcontext()
    with ctx:
        loss = fn(x)
    if autocast:
        assert loss.dtype == torch.float32
    (loss.float() * scale).backward()
    return x.grad.cpu().double() / scale


@pytest.mark.parametrize("name,fn,shape,bounds", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
@pytest.mark.parametrize(
    "scale,autocast",
    [(1.0, False), (2.0**10, False), (2.0**15, False), (2.0**16, True)],
    ids=["1", "2^10", "2^15", "2^16-autocast"],
)
@pytest.mark.parametrize("device", DEVICES)
def test_loss_scaled_gradient_matches_float64(name, fn, shape, bounds, dtype, scale, autocast, device):
    x64 = _input(shape, bounds, dtype).requires_grad_()
    fn(x64).sum().backward()
    exact = x64.grad
    got = _scaled_grad(fn, x64.detach(), dtype, scale, autocast, device)
    info = torch.finfo(dtype)
    scaled = exact.abs() * scale
    representable = (scaled >= info.tiny) & (scaled <= info.max / 2)
    # Beyond the dtype's range an inf is right: GradScaler then skips the
    # step and lowers the scale.
    assert torch.isfinite(got[representable]).all()
    tol = (2 * info.eps + 1e-5) * exact.abs()
    bad = representable & ((got - exact).abs() > tol)
    assert not bad.any(), (
        f"{int(bad.sum())} of {int(representable.sum())} gradients off, e.g. got {got[bad][:4].tolist()} "
        f"want {exact[bad][:4].tolist()}"
    )


def test_retinanet_negatives_keep_their_gradient_under_loss_scaling():
    x = torch.tensor([[-6.0, -7.0, -8.0, -5.0]], dtype=torch.float16, requires_grad=True)
    target = torch.tensor([-1])
    (lossext.sigmoid_focal_loss(x, target, reduction="sum") * 32768).backward()
    x64 = x.detach().double().requires_grad_()
    lossext.sigmoid_focal_loss(x64, target, reduction="sum").backward()
    # The scaled gradients are [1.1e-3, 5.6e-5, 2.8e-6, 2.2e-2]: rounded once
    # to float16 (the last two are subnormal, hence the absolute spacing
    # 2^-24), none of them 0.
    torch.testing.assert_close(x.grad.double(), x64.grad * 32768, rtol=2e-3, atol=2.0**-24)
