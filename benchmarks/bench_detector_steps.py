"""Whole detector loss steps, forward + backward: YOLOv8 (ultralytics), GFL (mmdet) and one
DINO decoder layer (matcher + set criterion), each as its framework computes it (eager torch,
benchmarks/detectors/), the same under torch.compile, and composed of lossext ops. Where
ultralytics is installed in build/peers its own v8DetectionLoss runs too.

Sizes: the full sizes are the frameworks' training defaults (YOLOv8 at 640x640: batch 16, 8400
anchors, 80 classes, up to 100 boxes, 16 bins; GFL at 640x640: batch 16, 8525 anchors over five
levels; DINO: batch 8, 900 queries, 91 classes, up to 100 boxes); they run on the GPU and under
--full. The quick CPU run takes batch 2 at the same image size for YOLO and GFL and the full
DINO size.

What the step contains (see each module's docstring): YOLO assigns inside the step (the
assigner is part of v8DetectionLoss); GFL starts from the ATSS targets; DINO matches inside the
step (the cost on the device, scipy's assignment on the host, as DETR does).
"""

from __future__ import annotations

import torch

from benchmarks import harness
from benchmarks.detectors import dino, gfl, has, yolo

STEPS = {
    # name: (module, the framework whose formulation the eager step is)
    "yolov8_step": (yolo, "ultralytics"),
    "gfl_step": (gfl, "mmdet"),
    "dino_layer_step": (dino, "dino"),
}


def _bytes_floor(inputs, grad_args):
    """Every input tensor read once and every gradient written once."""
    tensors = [t for t in inputs if isinstance(t, torch.Tensor)]
    return sum(t.nbytes for t in tensors) + sum(t.nbytes for t in inputs[:grad_args])


def _lossext_note(module):
    """Which of the newer fused ops this lossext has (the composition calls them where it does)."""
    present = [op for op in module.NEWER_OPS if has(op)]
    absent = [op for op in module.NEWER_OPS if not has(op)]
    return (
        "lossext ops"
        + (f"; fused {', '.join(present)}" if present else "")
        + (f"; without {', '.join(absent)} (composed of older ops)" if absent else "")
    )


def implementations(module, framework):
    impls = {
        framework: (module.framework_step, f"{framework}'s formulation, eager"),
        f"{framework}+compile": (harness.compiled(module.framework_step), "the same under torch.compile"),
        "lossext": (module.lossext_step, _lossext_note(module)),
    }
    if module is yolo:
        own = yolo.ultralytics_step()
        impls["ultralytics-package"] = (own, "ultralytics' own v8DetectionLoss" if own else "not installed")
    return impls


def cases(device: torch.device, full: bool):
    size = "full" if full or device.type == "cuda" else "quick"
    for op, (module, framework) in STEPS.items():
        inputs = module.make_inputs(module.SIZES[size], device)
        grads = inputs[: module.GRAD_ARGS]
        impls = []
        for name, (step, note) in implementations(module, framework).items():
            if step is None:
                impls.append(harness.missing(name, note))
            else:
                impls.append(harness.Impl(name, harness.forward_backward(step, grads, *inputs), note))
        yield harness.Case(
            "detector_steps",
            op,
            module.shape(module.SIZES[size]),
            "float32",
            "fwd+bwd",
            _bytes_floor(inputs, module.GRAD_ARGS),
            impls,
            baseline=framework,
        )
