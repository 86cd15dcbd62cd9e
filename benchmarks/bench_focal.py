"""Focal losses: lossext's fused kernels against the lossext reference (eager
and torch.compile) and the peers where importable (torchvision.ops for
sigmoid focal, kornia for softmax focal).

Sigmoid focal is the detection case: anchors x classes logits. lossext reads
int64 class-index targets (one per anchor); torchvision and the reference
need the dense one-hot float target, which is built once outside the timed
region (what a torchvision user pays per step on top is not counted).
"""

import torch

import lossext
from benchmarks import harness


def _torchvision_focal():
    try:
        from torchvision.ops import sigmoid_focal_loss

        return sigmoid_focal_loss
    except Exception:  # noqa: BLE001 - any import failure means "missing"
        return None


def _kornia_focal():
    try:
        from kornia.losses import focal_loss

        return focal_loss
    except Exception:  # noqa: BLE001
        return None


def _sigmoid_sizes(device, full):
    if device.type == "cuda":
        return [(8 * 100_000, 80)] if full else [(8 * 100_000, 80)]
    return [(20_000, 80), (100_000, 80)] if full else [(20_000, 80)]


def _softmax_sizes(device, full):
    if device.type == "cuda":
        return [(65_536, 1000)]
    return [(4096, 1000)]


def _sigmoid_cases(device, full):
    torchvision_focal = _torchvision_focal()
    tv_compiled = harness.compiled(torchvision_focal) if torchvision_focal else None
    ref = lossext.reference.sigmoid_focal_loss
    ref_compiled = harness.compiled(ref)
    for n, c in _sigmoid_sizes(device, full):
        x = torch.randn(n, c, device=device).requires_grad_()
        y = torch.randint(0, c, (n,), device=device)
        y[torch.rand(n, device=device) < 0.9] = -1  # background anchors
        y[torch.rand(n, device=device) < 0.02] = -100  # ignored anchors
        dense = (y.unsqueeze(1) == torch.arange(c, device=device)).float()
        normalizer = (y >= 0).sum().clamp(min=1).float()
        for mode in ("fwd", "fwd+bwd"):
            if mode == "fwd":
                floor = x.nbytes + y.nbytes
                wrap = lambda f, t: harness.forward(f, x, t, 0.25, 2.0, "sum")  # noqa: E731
            else:
                floor = 2 * x.nbytes + y.nbytes  # read logits and index targets, write the gradient
                wrap = lambda f, t: harness.forward_backward(f, [x], x, t, 0.25, 2.0, "sum")  # noqa: E731
            impls = [
                harness.Impl(
                    "lossext",
                    wrap(
                        lambda i, t, a, g, r: lossext.sigmoid_focal_loss(
                            i, t, a, g, r, normalizer=normalizer
                        ),
                        y,
                    ),
                    "index targets",
                ),
                harness.Impl("reference", wrap(ref, dense), "dense one-hot targets"),
                harness.Impl("reference+compile", wrap(ref_compiled, dense), "dense one-hot targets"),
                harness.Impl("torchvision", wrap(torchvision_focal, dense), "dense one-hot targets")
                if torchvision_focal
                else harness.missing("torchvision"),
                harness.Impl("torchvision+compile", wrap(tv_compiled, dense), "dense one-hot targets")
                if torchvision_focal
                else harness.missing("torchvision+compile"),
            ]
            yield harness.Case(
                "focal", "sigmoid_focal_loss", f"{n}x{c}", "float32", mode, floor, impls, baseline="reference"
            )


def _softmax_cases(device, full):
    kornia_focal = _kornia_focal()
    ref = lossext.reference.softmax_focal_loss
    ref_compiled = harness.compiled(ref)
    for n, c in _softmax_sizes(device, full):
        x = torch.randn(n, c, device=device).requires_grad_()
        y = torch.randint(0, c, (n,), device=device)
        for mode in ("fwd", "fwd+bwd"):
            if mode == "fwd":
                floor = x.nbytes + y.nbytes
                wrap = lambda f: harness.forward(f, x, y, 0.25, 2.0)  # noqa: E731
            else:
                floor = 3 * x.nbytes + 2 * y.nbytes  # logits read twice, gradient written once
                wrap = lambda f: harness.forward_backward(f, [x], x, y, 0.25, 2.0)  # noqa: E731
            impls = [
                harness.Impl("lossext", wrap(lossext.softmax_focal_loss)),
                harness.Impl("reference", wrap(ref)),
                harness.Impl("reference+compile", wrap(ref_compiled)),
                harness.Impl("kornia", wrap(lambda i, t, a, g: kornia_focal(i, t, a, g, reduction="mean")))
                if kornia_focal
                else harness.missing("kornia"),
            ]
            yield harness.Case(
                "focal", "softmax_focal_loss", f"{n}x{c}", "float32", mode, floor, impls, baseline="reference"
            )


def cases(device: torch.device, full: bool):
    yield from _sigmoid_cases(device, full)
    yield from _softmax_cases(device, full)
