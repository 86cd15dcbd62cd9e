"""Image losses: total variation forward + backward, lossext's fused kernel
against its reference (eager and compiled) and kornia where importable.

Shapes: a batch of RGB images (B, 3, H, W); the loss is per (image, channel)
plane and summed before backward, as a training step does. The
isotropic form has no kornia peer."""

import torch

import lossext
from benchmarks import harness


def _kornia_tv():
    try:
        from kornia.losses import total_variation

        return total_variation
    except Exception:  # noqa: BLE001 - any import failure means "missing"
        return None


def _sizes(device, full):
    if device.type == "cuda":
        return [(32, 3, 512, 512)]
    return [(8, 3, 256, 256), (2, 3, 1024, 1024)] if full else [(8, 3, 256, 256)]


def cases(device: torch.device, full: bool):
    kornia_tv = _kornia_tv()
    ref = lossext.reference.total_variation_loss
    ref_compiled = harness.compiled(ref)
    for shape in _sizes(device, full):
        x = torch.rand(shape, device=device).requires_grad_()
        floor = 2 * x.nbytes  # read the image, write its gradient
        for iso in (False, True):
            wrap = lambda f: harness.forward_backward(f, [x], x, "sum", iso)  # noqa: E731
            impls = [
                harness.Impl("lossext", wrap(lossext.total_variation_loss)),
                harness.Impl("reference", wrap(ref)),
                harness.Impl("reference+compile", wrap(ref_compiled)),
            ]
            if not iso:
                impls.append(
                    harness.Impl("kornia", harness.forward_backward(kornia_tv, [x], x, "sum"))
                    if kornia_tv
                    else harness.missing("kornia")
                )
            op = "total_variation_isotropic" if iso else "total_variation"
            yield harness.Case(
                "image",
                op,
                "x".join(map(str, shape)),
                "float32",
                "fwd+bwd",
                floor,
                impls,
                baseline="reference",
            )
