"""Sigmoid cross-entropy losses of detection heads, forward and backward:
BCE with logits at YOLOv8's size (16 images x 8400 anchors x 80 classes,
the classification loss of its head), quality focal (GFL) and varifocal
(VFNet) at a GFL size (2 images of 1333x800 over strides 8-128: about 22,300
anchors each, 80 classes). lossext against torch's own BCE (eager and
compiled) and the lossext reference (eager and compiled).

Quality focal: lossext reads the (label, score) pair of mmdet's
quality_focal_loss; the reference builds the dense target it stands for
inside the step (as mmdet's indexing does its own work per step).
"""

import torch
import torch.nn.functional as F

import lossext
from benchmarks import harness

YOLO = (16 * 8400, 80)
GFL = (2 * 22_300, 80)


def _sizes(device, full):
    if device.type == "cuda" or full:
        return {"bce": [YOLO], "focal": [GFL]}
    return {"bce": [(2 * 8400, 80)], "focal": [GFL]}


def _yolo_targets(n, c, device):
    """A YOLOv8-like soft target: most anchors all zero, a few carry the
    aligned IoU score at their class."""
    t = torch.zeros(n, c, device=device)
    pos = torch.rand(n, device=device) < 0.05
    idx = pos.nonzero().squeeze(1)
    t[idx, torch.randint(0, c, (idx.numel(),), device=device)] = torch.rand(idx.numel(), device=device)
    return t


def _bce_cases(device, full):
    torch_compiled = harness.compiled(F.binary_cross_entropy_with_logits)
    ref = lossext.reference.binary_cross_entropy_with_logits
    ref_compiled = harness.compiled(ref)
    for n, c in _sizes(device, full)["bce"]:
        x = torch.randn(n, c, device=device).requires_grad_()
        t = _yolo_targets(n, c, device)
        for mode in ("fwd", "fwd+bwd"):
            if mode == "fwd":
                floor = x.nbytes + t.nbytes
                wrap = lambda f: harness.forward(f, x, t, reduction="sum")  # noqa: E731
            else:
                floor = 2 * x.nbytes + t.nbytes  # read logits and targets, write the gradient
                wrap = lambda f: harness.forward_backward(f, [x], x, t, reduction="sum")  # noqa: E731
            impls = [
                harness.Impl("lossext", wrap(lossext.binary_cross_entropy_with_logits)),
                harness.Impl("torch", wrap(F.binary_cross_entropy_with_logits)),
                harness.Impl("torch+compile", wrap(torch_compiled)),
                harness.Impl("reference", wrap(ref)),
                harness.Impl("reference+compile", wrap(ref_compiled)),
            ]
            yield harness.Case(
                "bce",
                "binary_cross_entropy_with_logits",
                f"{n}x{c}",
                "float32",
                mode,
                floor,
                impls,
                baseline="torch",
            )


def _focal_cases(device, full):
    qfl_ref, vfl_ref = lossext.reference.quality_focal_loss, lossext.reference.varifocal_loss
    qfl_compiled, vfl_compiled = harness.compiled(qfl_ref), harness.compiled(vfl_ref)
    for n, c in _sizes(device, full)["focal"]:
        x = torch.randn(n, c, device=device).requires_grad_()
        label = torch.full((n,), c, device=device)
        pos = torch.rand(n, device=device) < 0.02
        label[pos] = torch.randint(0, c, (int(pos.sum()),), device=device)
        score = torch.rand(n, device=device)
        avg = float(pos.sum().clamp(min=1))
        t = torch.zeros(n, c, device=device)
        t[pos.nonzero().squeeze(1), label[pos]] = score[pos]
        qfl = harness.forward_backward
        impls = [
            harness.Impl("lossext", qfl(lossext.quality_focal_loss, [x], x, (label, score), avg_factor=avg)),
            harness.Impl("reference", qfl(qfl_ref, [x], x, (label, score), avg_factor=avg)),
            harness.Impl("reference+compile", qfl(qfl_compiled, [x], x, (label, score), avg_factor=avg)),
        ]
        floor = 2 * x.nbytes + label.nbytes + score.nbytes
        yield harness.Case("bce", "quality_focal_loss", f"{n}x{c}", "float32", "fwd+bwd", floor, impls)
        impls = [
            harness.Impl("lossext", qfl(lossext.varifocal_loss, [x], x, t, avg_factor=avg)),
            harness.Impl("reference", qfl(vfl_ref, [x], x, t, avg_factor=avg)),
            harness.Impl("reference+compile", qfl(vfl_compiled, [x], x, t, avg_factor=avg)),
        ]
        yield harness.Case(
            "bce", "varifocal_loss", f"{n}x{c}", "float32", "fwd+bwd", 2 * x.nbytes + t.nbytes, impls
        )


def cases(device: torch.device, full: bool):
    yield from _bce_cases(device, full)
    yield from _focal_cases(device, full)
