"""A RetinaNet-like detection loss step, end to end: sigmoid focal loss over
every anchor plus GIoU loss on the positive anchors' decoded boxes, both
normalised by the number of positive anchors, forward + backward w.r.t. the
class logits and the decoded boxes.

Inputs, built once outside the timed step (what the network and the anchor
matcher hand the loss):
    logits  (B, A, C)  float32, requires grad
    boxes   (B, A, 4)  float32 decoded predicted boxes (xyxy), requires grad
    labels  (B, A)     int64 matched class: c in [0, C) positive, -1
                       background, -100 ignored (between IoU thresholds)
    matched (B, A, 4)  float32 the matched ground-truth box of every anchor

The timed step, identical in meaning for every implementation:
    positive   = labels >= 0
    normalizer = lossext.distributed.global_normalizer(positive.sum())
                 (without a process group: the count as float, clamped to
                 >= 1; a tensor, never read back to the host)
    total = focal(logits over non-ignored anchors, alpha 0.25, gamma 2, sum)
            / normalizer
          + GIoU(boxes[positive], matched[positive], sum) / normalizer
    gradient of total w.r.t. logits and boxes

lossext reads the int64 labels directly (index targets: -1 background,
-100 ignored) in its fused focal kernel. The reference and torchvision need
what torchvision's RetinaNet head builds: a dense one-hot target over every
anchor and the non-ignored rows selected by a boolean mask; both are inside
their timed step because a torchvision user cannot do without them. Every
implementation does the positive selection (a boolean-mask gather of the
boxes) inside the step; its data-dependent size costs one device sync on
the GPU for every implementation alike, and a graph break under
torch.compile (the compiled variants compile the rest).
"""

from __future__ import annotations

import torch

import lossext
from benchmarks import harness
from lossext.distributed import global_normalizer

ALPHA, GAMMA = 0.25, 2.0
POSITIVE_FRACTION, IGNORED_FRACTION = 0.01, 0.01

try:
    import torchvision.ops as tv_ops
except Exception:  # noqa: BLE001 - no CPU wheel on some machines
    tv_ops = None


def make_inputs(images: int, anchors: int, classes: int, device, dtype=torch.float32, seed: int = 0):
    """The loss inputs of one detection batch (see the module docstring)."""
    g = torch.Generator(device="cpu").manual_seed(seed)

    def boxes_xyxy(n):
        corner = torch.rand(images, n, 2, generator=g) * 512
        size = torch.rand(images, n, 2, generator=g) * 128 + 4
        return torch.cat([corner, corner + size], -1)

    labels = torch.full((images, anchors), -1, dtype=torch.int64)
    u = torch.rand(images, anchors, generator=g)
    positive = u < POSITIVE_FRACTION
    labels[positive] = torch.randint(0, classes, (int(positive.sum()),), generator=g)
    labels[(u >= POSITIVE_FRACTION) & (u < POSITIVE_FRACTION + IGNORED_FRACTION)] = -100
    matched = boxes_xyxy(anchors)
    # Predictions near their matched box, as a trained-ish regressor gives.
    boxes = matched + torch.randn(images, anchors, 4, generator=g) * 8
    logits = torch.randn(images, anchors, classes, generator=g) * 2 - 4
    return (
        logits.to(device, dtype).requires_grad_(),
        boxes.to(device, dtype).requires_grad_(),
        labels.to(device),
        matched.to(device, dtype),
    )


def lossext_step(logits, boxes, labels, matched):
    positive = labels >= 0
    normalizer = global_normalizer(positive.sum())
    cls = lossext.sigmoid_focal_loss(
        logits, labels, ALPHA, GAMMA, "sum", ignore_index=-100, normalizer=normalizer
    )
    box = lossext.generalized_box_iou_loss(boxes[positive], matched[positive], reduction="sum") / normalizer
    return cls + box


def dense_step(focal_fn, giou_fn):
    """The step as torchvision's RetinaNet head computes it: one-hot targets
    over every anchor, ignored anchors dropped by a mask, then the loss."""

    def step(logits, boxes, labels, matched):
        positive = labels >= 0
        normalizer = global_normalizer(positive.sum())
        classes = logits.shape[-1]
        one_hot = (labels.unsqueeze(-1) == torch.arange(classes, device=labels.device)).to(logits.dtype)
        valid = labels != -100
        cls = focal_fn(logits[valid], one_hot[valid], ALPHA, GAMMA, "sum") / normalizer
        box = giou_fn(boxes[positive], matched[positive], reduction="sum") / normalizer
        return cls + box

    return step


reference_step = dense_step(lossext.reference.sigmoid_focal_loss, lossext.reference.generalized_box_iou_loss)
torchvision_step = (
    dense_step(tv_ops.sigmoid_focal_loss, tv_ops.generalized_box_iou_loss) if tv_ops is not None else None
)


def implementations():
    """name -> step function (None where the peer is not importable)."""
    return {
        "lossext": lossext_step,
        "reference": reference_step,
        "reference+compile": harness.compiled(reference_step),
        "torchvision": torchvision_step,
        "torchvision+compile": harness.compiled(torchvision_step) if torchvision_step else None,
    }


def _sizes(device, full):
    if device.type == "cuda":
        return [(8, 100_000, 80)]
    return [(1, 20_000, 80)]


def cases(device: torch.device, full: bool):
    for images, anchors, classes in _sizes(device, full):
        logits, boxes, labels, matched = make_inputs(images, anchors, classes, device)
        positives = int((labels >= 0).sum())
        # Read logits and labels, write the logits' gradient; read the positive
        # box pairs and write the boxes' (dense, mostly zero) gradient.
        floor = 2 * logits.nbytes + labels.nbytes + boxes.nbytes + positives * 2 * 4 * logits.element_size()
        impls = []
        for name, step in implementations().items():
            if step is None:
                impls.append(harness.missing(name))
                continue
            note = "index targets" if name == "lossext" else "one-hot built in the step"
            impls.append(
                harness.Impl(
                    name,
                    harness.forward_backward(step, [logits, boxes], logits, boxes, labels, matched),
                    note,
                )
            )
        yield harness.Case(
            "detection",
            "retinanet_focal+giou",
            f"{images}x{anchors}x{classes}",
            "float32",
            "fwd+bwd",
            floor,
            impls,
            baseline="reference",
        )
