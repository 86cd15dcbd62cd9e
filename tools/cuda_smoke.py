"""Every lossext op, forward and backward, at a small size: the workload that
compute-sanitizer checks on the GPU. With --determinism, runs each twice and
reports whether the results are bitwise identical. A workload with no inputs
to differentiate (the pairwise box matrices, forward-only kernels) checks its
output alone. Runs on the CPU too (--device cpu).

    python tools/cuda_smoke.py [--device cpu] [--determinism]
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import lossext  # noqa: E402


def workloads(device):
    x = torch.randn(64, 1000, device=device, requires_grad=True)
    y = torch.randint(0, 1000, (64,), device=device)
    y[0] = -100
    seg = torch.randn(2, 5, 7, 3, device=device, requires_grad=True)
    seg_y = torch.randint(0, 5, (2, 7, 3), device=device)
    t = torch.softmax(torch.randn(64, 1000, device=device), 1)
    w = torch.rand(1000, device=device)
    yield "cross_entropy index", lambda: lossext.cross_entropy(x, y, w, label_smoothing=0.1, z_loss=1e-4), [x]
    yield "cross_entropy (N,C,d)", lambda: lossext.cross_entropy(seg, seg_y), [seg]
    yield "cross_entropy prob", lambda: lossext.cross_entropy(x, t), [x]
    xb = torch.randn(16, 4096, device=device, dtype=torch.bfloat16, requires_grad=True)
    yb = torch.randint(0, 4096, (16,), device=device)
    yield "cross_entropy bf16", lambda: lossext.cross_entropy(xb, yb), [xb]
    yield from _focal_workloads(device)
    yield from _box_workloads(device)
    yield from _regression_divergence_workloads(device)
    yield from _image_workloads(device)
    yield from _assignment_workloads(device)
    yield from _dfl_detr_workloads(device)
    yield from edge_workloads(device)
    yield from spec_sample_workloads(device)


def spec_sample_workloads(device):
    """Every op called directly on each sample of its spec (lossext/_ops/_spec.py):
    the backward ops with their own inputs, and each value of the named codes."""
    from lossext._ops._spec import all_specs

    for name, spec in all_specs().items():
        if device.type not in spec.devices:
            continue
        for i, args in enumerate(spec.samples(device)):
            args = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
            yield f"op {name} sample {i}", lambda op=spec.op, args=args: _flat(op(*args)), []


def _flat(outputs):
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return torch.cat([o.double().flatten() for o in outputs])


def _misaligned(shape, device, dtype=torch.float32):
    """Contiguous, but starting one element past a 16-byte boundary."""
    n = 1
    for d in shape:
        n *= d
    return torch.randn(n + 1, device=device, dtype=dtype)[1:].view(shape)


def edge_workloads(device):
    """The launchers' risky branches: storage offsets and row strides that
    forbid 16-byte access, class counts off the packet width, each
    threads-per-row choice (thread, warp, block of 256, block of 512), empty
    inputs, grids past gridDim.z = 65535, opted-in shared memory in float64."""
    y = torch.randint(0, 1000, (64,), device=device)
    xo = _misaligned((64, 1000), device).requires_grad_()
    yield "cross_entropy misaligned start", lambda: lossext.cross_entropy(xo, y, label_smoothing=0.1), [xo]
    xp = torch.randn(64, 1001, device=device)[:, :1000].requires_grad_()
    yield "cross_entropy padded rows", lambda: lossext.cross_entropy(xp, y), [xp]
    xt = torch.randn(1000, 64, device=device).t().requires_grad_()
    yield "cross_entropy transposed (thread per row)", lambda: lossext.cross_entropy(xt, y), [xt]
    xodd = torch.randn(8, 1003, device=device, dtype=torch.float16, requires_grad=True)
    yodd = torch.randint(0, 1003, (8,), device=device)
    yield "cross_entropy fp16 C=1003", lambda: lossext.cross_entropy(xodd, yodd), [xodd]
    xwide = torch.randn(4, 20000, device=device, requires_grad=True)
    ywide = torch.randint(0, 20000, (4,), device=device)
    yield "cross_entropy C=20000 (block of 512 per row)", lambda: lossext.cross_entropy(xwide, ywide), [xwide]
    x3 = torch.randn(4, 3000, device=device, dtype=torch.bfloat16, requires_grad=True)
    y3 = torch.randint(0, 3000, (4,), device=device)
    yield "cross_entropy bf16 C=3000 (block of 256 per row)", lambda: lossext.cross_entropy(x3, y3), [x3]
    tmis = _misaligned((64, 1000), device).copy_(torch.randn(64, 1000, device=device).softmax(1))
    xa = torch.randn(64, 1000, device=device, requires_grad=True)
    yield "cross_entropy prob misaligned target", lambda: lossext.cross_entropy(xa, tmis), [xa]
    x0 = torch.randn(0, 7, device=device, requires_grad=True)
    y0 = torch.zeros(0, dtype=torch.long, device=device)
    yield "cross_entropy empty", lambda: lossext.cross_entropy(x0, y0, reduction="sum"), [x0]
    yield "softmax_focal empty", lambda: lossext.softmax_focal_loss(x0, y0, reduction="sum"), [x0]
    x1 = _misaligned((50, 1), device).requires_grad_()
    l1 = torch.randint(-1, 1, (50,), device=device)
    yield "sigmoid_focal C=1 misaligned", lambda: lossext.sigmoid_focal_loss(x1, l1, reduction="sum"), [x1]
    xs = _misaligned((37, 3), device).requires_grad_()
    ys = torch.randint(0, 3, (37,), device=device)
    yield "softmax_focal C=3 misaligned", lambda: lossext.softmax_focal_loss(xs, ys), [xs]
    none = torch.empty(5, 0, device=device)
    yield (
        "sigmoid_focal op, zero classes",
        lambda: torch.ops.lossext.sigmoid_focal_fwd(
            none, torch.full((5,), -1, device=device), None, 0.25, 2.0, -100, 0.0, True
        ),
        [],
    )
    n = 2 * 16384 + 5
    lq = _misaligned((n,), device).copy_(torch.randn(n, device=device).log_softmax(0)).requires_grad_()
    lp = torch.randn(n, device=device).log_softmax(0)
    yield "kl_div misaligned, ragged chunk", lambda: lossext.kl_div(lq, lp, "sum", log_target=True), [lq]
    yield "js_div misaligned, ragged chunk", lambda: lossext.js_div(lq, lp, 0.5, "sum"), [lq]
    flat = torch.rand(2, 3, 1, 40, device=device, requires_grad=True)
    yield "total_variation H=1", lambda: lossext.total_variation_loss(flat, isotropic=True).sum(), [flat]
    yield (
        "total_variation empty",
        lambda: lossext.total_variation_loss(torch.rand(2, 0, 4, 4, device=device)).sum(),
        [],
    )
    xd = torch.randn(2, 100, 6, 5, device=device, dtype=torch.float64, requires_grad=True)
    yd = torch.randint(0, 100, (2, 6, 5), device=device)
    yield "dice_ce float64 100 classes (opted-in shared)", lambda: lossext.dice_ce_loss(xd, yd), [xd]
    xe = torch.randn(0, 4, 3, 3, device=device, requires_grad=True)
    ye = torch.zeros(0, 3, 3, dtype=torch.long, device=device)
    yield "dice empty batch", lambda: lossext.dice_loss(xe, ye, "multiclass"), [xe]
    a, b = _boxes(70000, device).view(70000, 1, 4), _boxes(140000, device).view(70000, 2, 4)
    yield "box_iou pairwise batch 70000 (grid z)", lambda: lossext.box_iou(a, b), []
    yield "box_iou pairwise n=0", lambda: lossext.box_iou(a[:, :0], b), []


def _focal_workloads(device):
    anchors, classes = 300, 80
    x = torch.randn(anchors, classes, device=device, requires_grad=True)
    dense = (torch.rand(anchors, classes, device=device) < 0.02).float()
    labels = torch.randint(0, classes, (anchors,), device=device)
    labels[torch.rand(anchors, device=device) < 0.8] = -1
    labels[:5] = -100
    w = torch.rand(classes, device=device)
    normalizer = (labels >= 0).sum().clamp(min=1).float()
    yield "sigmoid_focal dense", lambda: lossext.sigmoid_focal_loss(x, dense, reduction="sum"), [x]
    yield "sigmoid_focal dense none", lambda: lossext.sigmoid_focal_loss(x, dense).sum(), [x]
    yield "sigmoid_focal index", lambda: lossext.sigmoid_focal_loss(x, labels, reduction="mean"), [x]
    yield (
        "sigmoid_focal index weight+smoothing+gamma0.5+normalizer",
        lambda: lossext.sigmoid_focal_loss(
            x, labels, 0.25, 0.5, "sum", weight=w, label_smoothing=0.1, normalizer=normalizer
        ),
        [x],
    )
    xh = torch.randn(anchors, classes, device=device, dtype=torch.float16, requires_grad=True)
    yield "sigmoid_focal index fp16", lambda: lossext.sigmoid_focal_loss(xh, labels, reduction="sum"), [xh]
    s = torch.randn(128, 10, device=device, requires_grad=True)
    sy = torch.randint(0, 10, (128,), device=device)
    sy[0] = -100
    yield "softmax_focal (N,C)", lambda: lossext.softmax_focal_loss(s, sy, 0.25, 2.0, weight=w[:10]), [s]
    sd = torch.randn(2, 6, 9, 5, device=device, requires_grad=True)
    sdy = torch.randint(0, 6, (2, 9, 5), device=device)
    class_alpha = torch.rand(6, device=device)
    yield (
        "softmax_focal (N,C,d)",
        lambda: lossext.softmax_focal_loss(sd, sdy, class_alpha, 0.5, reduction="sum"),
        [sd],
    )


def _boxes(n, device, dtype=torch.float32):
    corner = torch.rand(n, 2, device=device) * 100
    return torch.cat([corner, corner + torch.rand(n, 2, device=device) * 50 + 1], -1).to(dtype)


def _box_workloads(device):
    a, b = _boxes(70, device), _boxes(45, device)
    ah, bh = a.half(), b.half()
    for op in ("box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"):
        fn = getattr(lossext, op)
        yield f"{op} pairwise", lambda fn=fn: fn(a, b), []
        yield f"{op} pairwise fp16", lambda fn=fn: fn(ah, bh), []
    yield "box_iou pairwise batched cxcywh", lambda: lossext.box_iou(a.view(2, 35, 4), b, fmt="cxcywh"), []
    p = _boxes(500, device).requires_grad_()
    t = _boxes(500, device)
    for mode in ("iou", "giou", "diou", "ciou", "eiou", "siou"):
        yield f"box_iou_loss {mode}", lambda mode=mode: lossext.box_iou_loss(p, t, mode, "sum"), [p]
    yield "box_iou_loss giou xywh mean", lambda: lossext.box_iou_loss(p, t, "giou", "mean", fmt="xywh"), [p]


def _regression_divergence_workloads(device):
    x = torch.randn(1000, 4, device=device, requires_grad=True)
    y = torch.randn(1000, 4, device=device)
    yield "smooth_l1", lambda: lossext.smooth_l1_loss(x, y, beta=0.5), [x]
    yield "smooth_l1 beta=0", lambda: lossext.smooth_l1_loss(x, y, "sum", beta=0.0), [x]
    yield "huber", lambda: lossext.huber_loss(x, y, "sum", delta=0.7), [x]
    logp = torch.log_softmax(torch.randn(64, 500, device=device), 1).requires_grad_()
    q = torch.softmax(torch.randn(64, 500, device=device), 1)
    yield "kl_div batchmean", lambda: lossext.kl_div(logp, q, "batchmean"), [logp]
    yield "kl_div log_target sum", lambda: lossext.kl_div(logp, q.log(), "sum", log_target=True), [logp]
    yield "js_div beta=0.5", lambda: lossext.js_div(logp, q.log()), [logp]
    yield "js_div beta=0.1 prob target", lambda: lossext.js_div(logp, q, 0.1, "sum", log_target=False), [logp]


def _dfl_detr_workloads(device):
    for bins, dtype in ((16, torch.float32), (17, torch.float16), (40, torch.float32)):  # thread / warp rows
        pred = torch.randn(4096, bins, device=device, dtype=dtype, requires_grad=True)
        label = torch.rand(4096, device=device) * (bins - 1)
        yield (
            f"distribution_focal bins={bins} {dtype}",
            lambda p=pred, y=label: lossext.distribution_focal_loss(p, y),
            [pred],
        )
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 900, 91, generator=g).to(device)
    boxes = torch.cat(
        [torch.rand(8, 900, 2, generator=g), torch.rand(8, 900, 2, generator=g) * 0.5 + 0.01], -1
    ).to(device)
    sizes = [100, 37, 0, 80, 5, 64, 100, 12]
    labels = [torch.randint(0, 91, (n,), generator=g).to(device) for n in sizes]
    tboxes = [
        torch.cat([torch.rand(n, 2, generator=g), torch.rand(n, 2, generator=g) * 0.5 + 0.01], -1).to(device)
        for n in sizes
    ]
    for kind in ("focal", "softmax"):
        yield (
            f"detr_matching_cost {kind} DINO size",
            lambda k=kind: torch.cat(
                [c.flatten() for c in lossext.detr_matching_cost(logits, boxes, labels, tboxes, class_cost=k)]
            ),
            [],
        )


def _image_workloads(device):
    img = torch.rand(2, 3, 37, 45, device=device, requires_grad=True)
    yield "total_variation", lambda: lossext.total_variation_loss(img).sum(), [img]
    yield "total_variation mean", lambda: lossext.total_variation_loss(img, "mean").sum(), [img]
    yield "total_variation isotropic", lambda: lossext.total_variation_loss(img, isotropic=True).sum(), [img]
    yield (
        "total_variation isotropic beta=1.5 eps",
        lambda: lossext.total_variation_loss(img, "mean", True, 1.5, 1e-6).sum(),
        [img],
    )
    big = torch.rand(1, 1, 300, 301, device=device, requires_grad=True)  # several CUDA chunks per plane
    yield "total_variation multi-chunk", lambda: lossext.total_variation_loss(big).sum(), [big]
    imgh = torch.rand(2, 3, 37, 45, device=device, dtype=torch.bfloat16, requires_grad=True)
    yield "total_variation bf16", lambda: lossext.total_variation_loss(imgh, isotropic=True).sum(), [imgh]
    yield from segmentation_workloads(device)


def _assignment_workloads(device):
    """The task-aligned assignment at the YOLOv8 shape (A = 8400), both top-k lists of the select kernel."""
    from benchmarks.bench_task_aligned import make_inputs

    args = make_inputs(4, 40, 80, device)
    for topk in (13, 40):
        yield (
            f"task_aligned_assign A=8400 topk={topk}",
            lambda topk=topk: _flat(lossext.task_aligned_assign(*args, topk=topk)),
            [],
        )
    half = (args[0].half(), *args[1:])
    yield "task_aligned_assign f16 iou", lambda: _flat(lossext.task_aligned_assign(*half, iou="iou")), []


def segmentation_workloads(device):
    """Dice / Jaccard / Tversky / Dice+CE: every kernel variant (softmax or
    identity over index targets, sigmoid or identity over dense masks, the
    cross-entropy term), ignored pixels, a ragged pixel count spanning several
    blocks, a 3-D volume, bfloat16, and a class count that needs opted-in
    shared memory."""
    x = torch.randn(3, 19, 37, 41, device=device, requires_grad=True)
    y = torch.randint(0, 19, (3, 37, 41), device=device)
    y[:, :4] = 255
    yield "dice multiclass", lambda: lossext.dice_loss(x, y, "multiclass", ignore_index=255), [x]
    yield "dice_ce", lambda: lossext.dice_ce_loss(x, y, ignore_index=255, label_smoothing=0.1), [x]
    yield (
        "jaccard multiclass probs squared",
        lambda: lossext.jaccard_loss(
            x.softmax(1), y, "multiclass", from_logits=False, ignore_index=255, squared_pred=True
        ),
        [x],
    )
    xm = torch.randn(2, 4, 9, 10, 11, device=device, requires_grad=True)
    tm = (torch.rand(2, 4, 9, 10, 11, device=device) > 0.5).float()
    tm[:, :, 0] = 255
    yield (
        "tversky multilabel 3d",
        lambda: lossext.tversky_loss(
            xm, tm, "multilabel", ignore_index=255, alpha=0.3, beta=0.7, gamma=1.5, per_image=True
        ),
        [xm],
    )
    yield (
        "dice multilabel probs",
        lambda: lossext.dice_loss(xm.sigmoid(), tm, "multilabel", from_logits=False, ignore_index=255),
        [xm],
    )
    xb = torch.randn(2, 19, 64, 96, device=device, dtype=torch.bfloat16, requires_grad=True)
    yb = torch.randint(0, 19, (2, 64, 96), device=device)
    yield "dice multiclass bf16", lambda: lossext.dice_loss(xb, yb, "multiclass"), [xb]
    xw = torch.randn(2, 150, 5, 7, device=device, requires_grad=True)
    yw = torch.randint(0, 150, (2, 5, 7), device=device)
    yield "dice_ce 150 classes", lambda: lossext.dice_ce_loss(xw, yw), [xw]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--determinism", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    same = True
    for name, fn, inputs in workloads(device):
        outs = []
        for _ in range(2 if args.determinism else 1):
            loss = fn()
            grads = torch.autograd.grad(loss, inputs) if inputs else []
            outs.append([loss.detach().clone(), *[g.clone() for g in grads]])
        if device.type == "cuda":
            torch.cuda.synchronize()
        if args.determinism:
            ok = all(torch.equal(a, b) for a, b in zip(*outs))
            same &= ok
            print(f"{name}: {'bitwise identical' if ok else 'DIFFERS'}")
        else:
            value = loss.double().sum().item()  # pairwise matrices: their sum
            print(f"{name}: {'loss' if loss.dim() == 0 else 'sum'} {value:.6f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
