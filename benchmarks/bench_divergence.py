"""KL and JS divergence, forward + backward, against torch.nn.functional.kl_div
(eager and torch.compile) and the JS reference.

Sizes: a distillation shape, (N, V) = (4096, 32000) float32 on
the CPU and (8192, 128256) bfloat16 on the GPU; quick runs use (512, 32000).
bytes_floor: input and target read once and the gradient written once, the
least any fwd+bwd implementation can move.
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F

import lossext
from benchmarks import harness


def _shape(device: torch.device, full: bool) -> tuple[int, int, torch.dtype]:
    if device.type == "cuda":
        return (8192, 128256, torch.bfloat16) if full else (1024, 128256, torch.bfloat16)
    return (4096, 32000, torch.float32) if full else (512, 32000, torch.float32)


def _inputs(n: int, v: int, dtype: torch.dtype, device: torch.device):
    gen = torch.Generator(device="cpu").manual_seed(0)
    student = torch.randn(n, v, generator=gen).log_softmax(-1).to(device=device, dtype=dtype)
    teacher = torch.randn(n, v, generator=gen).log_softmax(-1).to(device=device, dtype=dtype)
    return student.requires_grad_(True), teacher


def _torch_kl(input, target):
    return F.kl_div(input, target, reduction="batchmean", log_target=True)


def _lossext_kl(input, target):
    return lossext.kl_div(input, target, reduction="batchmean", log_target=True)


def _lossext_js(input, target):
    return lossext.js_div(input, target, beta=0.5, reduction="batchmean", log_target=True)


def _reference_js(input, target):
    return lossext.reference.js_div(input, target, 0.5, "batchmean", True)


def cases(device: torch.device, full: bool) -> Iterable[harness.Case]:
    n, v, dtype = _shape(device, full)
    student, teacher = _inputs(n, v, dtype, device)
    floor = 3 * student.numel() * student.element_size()
    shape, dtype_name = f"{n}x{v}", str(dtype).removeprefix("torch.")

    def impl(name, fn):
        return harness.Impl(name, harness.forward_backward(fn, [student], student, teacher), "")

    yield harness.Case(
        family="divergence",
        op="kl_div",
        shape=shape,
        dtype=dtype_name,
        mode="fwd+bwd",
        bytes_floor=floor,
        impls=[
            impl("lossext", _lossext_kl),
            impl("torch", _torch_kl),
            harness.Impl(
                "torch+compile",
                harness.forward_backward(harness.compiled(_torch_kl), [student], student, teacher),
                "",
            ),
        ],
        baseline="torch",
    )
    yield harness.Case(
        family="divergence",
        op="js_div",
        shape=shape,
        dtype=dtype_name,
        mode="fwd+bwd",
        bytes_floor=floor,
        impls=[
            impl("lossext", _lossext_js),
            impl("reference", _reference_js),
            harness.Impl(
                "reference+compile",
                harness.forward_backward(harness.compiled(_reference_js), [student], student, teacher),
                "",
            ),
        ],
        baseline="reference",
    )
