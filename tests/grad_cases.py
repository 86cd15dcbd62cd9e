"""One call of every fused op (and of each of its main branches) as
``fn(x)`` of a single differentiable input, for the gradient tests:
second derivatives, NaN propagation, anomaly mode, mixed precision.

Each case is (name, fn, make_input); ``make_input(dtype)`` returns a fresh
leaf tensor that requires grad. Targets are fixed (float64 or int64); the
ops promote or accumulate as they document."""

import torch

import lossext

SEG_SHAPE = (2, 3, 3, 2)


def _gen():
    return torch.Generator().manual_seed(7)


def _uniform(shape, low, high):
    def make(dtype=torch.float64):
        g = _gen()
        x = torch.rand(*shape, generator=g, dtype=torch.float64) * (high - low) + low
        return x.to(dtype).requires_grad_()

    return make


def _boxes(n):
    def make(dtype=torch.float64):
        g = _gen()
        xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4
        wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 3 + 0.5
        return torch.cat([xy, xy + wh], 1).to(dtype).requires_grad_()

    return make


def cases():
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 4, (5,), generator=g)
    y_ignored = y.clone()
    y_ignored[1] = -100
    w = torch.rand(4, generator=g, dtype=torch.float64) + 0.5
    prob = torch.softmax(torch.randn(5, 4, generator=g, dtype=torch.float64), 1)
    dense = torch.rand(6, 3, generator=g, dtype=torch.float64)
    fg = torch.tensor([0, -1, 2, 1, -1, 0])
    y_spatial = torch.randint(0, 4, (2, 3), generator=g)
    seg_y = torch.randint(0, 3, (SEG_SHAPE[0], *SEG_SHAPE[2:]), generator=g)
    seg_y_ignored = seg_y.clone()
    seg_y_ignored[0, 0, 0] = 255
    mask = (torch.rand(*SEG_SHAPE, generator=g) > 0.5).double()
    target = torch.randn(4, 5, generator=g, dtype=torch.float64)
    log_p = torch.log_softmax(torch.randn(3, 5, generator=g, dtype=torch.float64), 1)
    logits = _uniform((5, 4), -2, 2)
    seg = _uniform(SEG_SHAPE, -2, 2)

    yield (
        "cross_entropy",
        lambda x: lossext.cross_entropy(x, y_ignored, w, label_smoothing=0.1, z_loss=0.01),
        logits,
    )
    yield "cross_entropy_none", lambda x: lossext.cross_entropy(x, y, reduction="none"), logits
    yield "cross_entropy_prob", lambda x: lossext.cross_entropy(x, prob, w, label_smoothing=0.2), logits
    yield "cross_entropy_spatial", lambda x: lossext.cross_entropy(x, y_spatial), _uniform((2, 4, 3), -2, 2)
    for gamma in (0.0, 1.0, 2.0, 1.5):
        yield (
            f"sigmoid_focal_dense_g{gamma}",
            lambda x, gm=gamma: lossext.sigmoid_focal_loss(x, dense, gamma=gm, reduction="sum"),
            _uniform((6, 3), -3, 3),
        )
    yield (
        "sigmoid_focal_index",
        lambda x: lossext.sigmoid_focal_loss(x, fg, reduction="mean", weight=w[:3], label_smoothing=0.1),
        _uniform((6, 3), -3, 3),
    )
    yield (
        "sigmoid_focal_none",
        lambda x: lossext.sigmoid_focal_loss(x, dense, reduction="none"),
        _uniform((6, 3), -3, 3),
    )
    yield "softmax_focal", lambda x: lossext.softmax_focal_loss(x, y_ignored, alpha=w / 2, weight=w), logits
    yield "softmax_focal_g1.5", lambda x: lossext.softmax_focal_loss(x, y, alpha=0.3, gamma=1.5), logits
    yield "smooth_l1", lambda x: lossext.smooth_l1_loss(x, target, beta=0.7), _uniform((4, 5), -2, 2)
    yield (
        "smooth_l1_none",
        lambda x: lossext.smooth_l1_loss(x, target, "none", beta=0.7),
        _uniform((4, 5), -2, 2),
    )
    yield "huber", lambda x: lossext.huber_loss(x, target, delta=0.6), _uniform((4, 5), -2, 2)
    yield (
        "kl_div",
        lambda x: lossext.kl_div(torch.log_softmax(x, 1), log_p.exp(), "batchmean"),
        _uniform((3, 5), -2, 2),
    )
    yield (
        "kl_div_log_target",
        lambda x: lossext.kl_div(torch.log_softmax(x, 1), log_p, "sum", log_target=True),
        _uniform((3, 5), -2, 2),
    )
    yield (
        "js_div",
        lambda x: lossext.js_div(torch.log_softmax(x, 1), log_p, beta=0.3),
        _uniform((3, 5), -2, 2),
    )
    b2 = _boxes(4)().detach() + 0.3
    for mode in ("iou", "giou", "diou", "ciou", "eiou", "siou"):
        yield f"box_{mode}", lambda b, m=mode: lossext.box_iou_loss(b, b2, m, "sum"), _boxes(4)
    yield "total_variation", lambda x: lossext.total_variation_loss(x, "mean"), _uniform((2, 4, 5), -2, 2)
    yield (
        "total_variation_isotropic",
        lambda x: lossext.total_variation_loss(x, isotropic=True, beta=1.5, eps=0.1),
        _uniform((2, 4, 5), -2, 2),
    )
    yield (
        "dice_multiclass",
        lambda x: lossext.dice_loss(x, seg_y_ignored, "multiclass", ignore_index=255, smooth=0.5),
        seg,
    )
    yield (
        "dice_multilabel_squared",
        lambda x: lossext.dice_loss(x, mask, "multilabel", squared_pred=True, per_image=True),
        seg,
    )
    yield "jaccard_log", lambda x: lossext.jaccard_loss(x, mask, "multilabel", log_loss=True), seg
    yield (
        "tversky",
        lambda x: lossext.tversky_loss(x, seg_y, "multiclass", alpha=0.3, beta=0.7, gamma=1.5),
        seg,
    )
    yield (
        "dice_probabilities",
        lambda x: lossext.dice_loss(torch.softmax(x, 1), seg_y, "multiclass", from_logits=False),
        seg,
    )
    yield (
        "dice_ce",
        lambda x: lossext.dice_ce_loss(x, seg_y_ignored, ignore_index=255, label_smoothing=0.1),
        seg,
    )
    yield "dice_ce_weight", lambda x: lossext.dice_ce_loss(x, seg_y, weight=w[:3]), seg


CASES = list(cases())
IDS = [c[0] for c in CASES]


class kernels_off:
    """Runs the public functions on the reference, as on a device without
    kernels (the pure-torch oracle of the same call)."""

    def __enter__(self):
        from lossext import _ext

        self._saved = _ext.has_kernels, _ext.warn_fallback
        _ext.has_kernels = lambda device: False
        _ext.warn_fallback = lambda *a, **k: None

    def __exit__(self, *exc):
        from lossext import _ext

        _ext.has_kernels, _ext.warn_fallback = self._saved
