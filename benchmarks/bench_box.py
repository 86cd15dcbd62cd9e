"""Box IoU family benchmarks: the pairwise IoU matrix and the aligned GIoU /
CIoU losses forward + backward, against lossext's reference (eager and
compiled) and torchvision when it is importable."""

from __future__ import annotations

from typing import Iterable

import torch

import lossext
from benchmarks import harness

try:
    import torchvision.ops as tv_ops
except Exception:  # not installable on some machines (no CPU wheel)
    tv_ops = None


def _boxes(n: int, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    corner = torch.rand(n, 2, device=device) * 100
    size = torch.rand(n, 2, device=device) * 50 + 1
    return torch.cat([corner, corner + size], -1).to(dtype)


def _peer(name: str, fn_or_none):
    if tv_ops is None:
        return harness.Impl("torchvision", None, "not importable")
    return harness.Impl("torchvision", fn_or_none, "")


def _pairwise_case(device, n, op="box_iou"):
    b1, b2 = _boxes(n, device), _boxes(n, device)
    floor = n * n * 4 + 2 * n * 16  # write the matrix, read the boxes
    ours, ref = getattr(lossext, op), getattr(lossext.reference, op)
    impls = [
        harness.Impl("lossext", harness.forward(ours, b1, b2), ""),
        harness.Impl("reference", harness.forward(ref, b1, b2), ""),
        harness.Impl("reference+compile", harness.forward(harness.compiled(ref), b1, b2), ""),
        _peer(op, tv_ops and harness.forward(getattr(tv_ops, op), b1, b2)),
    ]
    return harness.Case(
        family="box",
        op=op,
        shape=f"{n}x{n}",
        dtype="float32",
        mode="fwd",
        bytes_floor=floor,
        impls=impls,
        baseline="reference",
    )


def _loss_case(device, pairs, mode, tv_name):
    b1 = _boxes(pairs, device).requires_grad_()
    b2 = _boxes(pairs, device)

    def ours(a, b):
        return lossext.box_iou_loss(a, b, mode=mode, reduction="sum")

    def ref(a, b):
        return lossext.reference.box_iou_loss(a, b, mode=mode, reduction="sum")

    tv = None
    if tv_ops is not None:
        tv_fn = getattr(tv_ops, tv_name)

        def tv(a, b):
            return tv_fn(a, b, reduction="sum")

    # Read both boxes (32 B per pair) and write the predictions' gradient (16 B).
    floor = pairs * 48
    impls = [
        harness.Impl("lossext", harness.forward_backward(ours, [b1], b1, b2), ""),
        harness.Impl("reference", harness.forward_backward(ref, [b1], b1, b2), ""),
        harness.Impl("reference+compile", harness.forward_backward(harness.compiled(ref), [b1], b1, b2), ""),
        _peer(tv_name, tv and harness.forward_backward(tv, [b1], b1, b2)),
    ]
    if tv_ops is not None:
        impls.append(
            harness.Impl(
                "torchvision+compile", harness.forward_backward(harness.compiled(tv), [b1], b1, b2), ""
            )
        )
    return harness.Case(
        family="box",
        op=f"{tv_name}",
        shape=str(pairs),
        dtype="float32",
        mode="fwd+bwd",
        bytes_floor=floor,
        impls=impls,
        baseline="reference",
    )


def cases(device: torch.device, full: bool) -> Iterable[harness.Case]:
    """Each op alone: the pairwise matrices at
    N = M = 4096 and the aligned losses at 1M pairs on the GPU (quick and
    full alike: they take milliseconds there); on the CPU 1024 (quick) or
    4096 (full) boxes and 100k pairs."""
    gpu = device.type == "cuda"
    n = 4096 if (full or gpu) else 1024
    yield _pairwise_case(device, n, "box_iou")
    yield _pairwise_case(device, n, "generalized_box_iou")
    if full or gpu:
        yield _pairwise_case(device, n, "complete_box_iou")
    pairs = 1_000_000 if gpu else 100_000
    yield _loss_case(device, pairs, "giou", "generalized_box_iou_loss")
    yield _loss_case(device, pairs, "diou", "distance_box_iou_loss")
    yield _loss_case(device, pairs, "ciou", "complete_box_iou_loss")
