"""Distribution focal loss forward + backward at YOLOv8's size: 16 images x
8400 anchors x 4 box sides = 537600 rows of reg_max = 16 bins (every anchor,
as the task's upper bound; YOLOv8 applies it to the foreground ones).
lossext's fused kernel against ultralytics' DFLoss and mmdet's
distribution_focal_loss written out in torch ops (eager and compiled)."""

import torch
import torch.nn.functional as F

import lossext
from benchmarks import harness

ROWS, BINS = 16 * 8400 * 4, 16


def ultralytics_dfl(pred_dist, target, reg_max=BINS):
    """ultralytics' DFLoss.__call__ in torch ops (without its in-place clamp)."""
    target = target.clamp(0, reg_max - 1 - 0.01)
    tl = target.long()
    tr = tl + 1
    wl = tr - target
    wr = 1 - wl
    return (
        F.cross_entropy(pred_dist, tl.view(-1), reduction="none").view(tl.shape) * wl
        + F.cross_entropy(pred_dist, tr.view(-1), reduction="none").view(tl.shape) * wr
    ).mean(-1, keepdim=True)


def cases(device: torch.device, full: bool):
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(ROWS, BINS, generator=g).to(device).requires_grad_()
    target = (torch.rand(ROWS // 4, 4, generator=g) * (BINS - 1)).to(device)
    floor = 2 * pred.nbytes + target.nbytes  # read the logits and the targets, write the gradient
    wrap = lambda f: harness.forward_backward(f, [pred], pred, target)  # noqa: E731
    yield harness.Case(
        "detection",
        "dfl_loss (ultralytics)",
        f"{ROWS}x{BINS}",
        "float32",
        "fwd+bwd",
        floor,
        [
            harness.Impl("lossext", wrap(lossext.dfl_loss)),
            harness.Impl("reference", wrap(ultralytics_dfl)),
            harness.Impl("reference+compile", wrap(harness.compiled(ultralytics_dfl))),
        ],
        baseline="reference",
    )
