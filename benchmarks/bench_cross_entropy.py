"""Softmax cross-entropy: lossext against F.cross_entropy eager and compiled,
the lossext reference, and Liger-Kernel's fused cross-entropy where importable."""

import torch
import torch.nn.functional as F

import lossext
from benchmarks import harness


def _liger():
    try:
        from liger_kernel.transformers.functional import liger_cross_entropy

        return liger_cross_entropy
    except Exception:  # noqa: BLE001 - any import failure means "missing"
        return None


def sizes(device, full):
    if device.type == "cuda":
        big = (8192, 128256)
        return (
            [(big, torch.bfloat16), ((8192, 32000), torch.float32), (big, torch.float32)]
            if full
            else [(big, torch.bfloat16), ((4096, 32000), torch.float32)]
        )
    return (
        [((4096, 32000), torch.float32), ((4096, 32000), torch.bfloat16)]
        if full
        else [((4096, 32000), torch.float32)]
    )


def cases(device, full):
    liger = _liger() if device.type == "cuda" else None
    compiled_torch = harness.compiled(F.cross_entropy)
    compiled_ref = harness.compiled(lossext.reference.cross_entropy)
    for (n, c), dtype in sizes(device, full):
        x = torch.randn(n, c, device=device).to(dtype).requires_grad_()
        y = torch.randint(0, c, (n,), device=device)
        elem = x.element_size()
        for mode in ("fwd", "fwd+bwd"):
            if mode == "fwd":
                floor = n * c * elem + y.nbytes
                wrap = lambda f: harness.forward(f, x, y)  # noqa: E731
            else:
                floor = 3 * n * c * elem + 2 * y.nbytes  # read logits twice, write the gradient once
                wrap = lambda f: harness.forward_backward(f, [x], x, y)  # noqa: E731
            impls = [
                harness.Impl("lossext", wrap(lossext.cross_entropy)),
                harness.Impl("torch", wrap(F.cross_entropy)),
                harness.Impl("torch+compile", wrap(compiled_torch)),
                harness.Impl("reference", wrap(lossext.reference.cross_entropy)),
                harness.Impl("reference+compile", wrap(compiled_ref)),
            ]
            if device.type == "cuda":
                impls.append(harness.Impl("liger", wrap(liger)) if liger else harness.missing("liger"))
            yield harness.Case(
                "cross_entropy",
                "cross_entropy",
                f"{n}x{c}",
                str(dtype).replace("torch.", ""),
                mode,
                floor,
                impls,
                baseline="torch",
            )
