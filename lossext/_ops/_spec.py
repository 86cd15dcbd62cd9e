"""Each compiled op described once, as data.

Each family module of lossext.losses declares ``SPECS``, one ``OpSpec`` per
op of its schemas (csrc/ops.cpp). From these the fake kernels and the autograd
formulas are registered (``register``), and tests/test_ops_coverage.py checks
every op of ``torch.ops.lossext``: its kernels per device, its fake kernel,
``torch.library.opcheck`` on the spec's samples, and ``torch.compile`` of the
public function that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from lossext.losses import family_modules

NAMESPACE = "lossext"


@dataclass(frozen=True)
class OpSpec:
    """name: the op in torch.ops.lossext.
    fake: the fake (meta) kernel, the op's output shapes and dtypes.
    samples: device -> list of argument tuples, small valid inputs (the
        differentiable ones of a forward op require grad, so opcheck tests
        the autograd registration too).
    backward, setup_context: the autograd formula of a forward op (None for
        the backward ops, which autograd never differentiates).
    public: device -> (function, args) calling a public function of lossext
        that runs this op on that device (the function returning None where
        the public API does not run it on that device); None for the
        backward ops.
    devices: the device types with a kernel of this op."""

    name: str
    fake: Callable
    samples: Callable[[torch.device], Sequence[tuple]]
    backward: Callable | None = None
    setup_context: Callable | None = None
    public: Callable[[torch.device], tuple[Callable, tuple] | None] | None = None
    devices: tuple[str, ...] = ("cpu", "cuda")

    @property
    def qualname(self) -> str:
        return f"{NAMESPACE}::{self.name}"

    @property
    def op(self) -> torch._ops.OpOverload:
        return getattr(getattr(torch.ops, NAMESPACE), self.name).default


def register(spec: OpSpec) -> None:
    torch.library.register_fake(spec.qualname, spec.fake)
    if spec.backward is not None:
        torch.library.register_autograd(spec.qualname, spec.backward, setup_context=spec.setup_context)


def all_specs() -> dict[str, OpSpec]:
    """Every op spec, by op name; a name declared twice is an error."""
    specs: dict[str, OpSpec] = {}
    for module in family_modules():
        for spec in module.SPECS:
            if spec.name in specs:
                raise RuntimeError(f"op {spec.name} is described twice (again in {module.__name__})")
            specs[spec.name] = spec
    return specs


def register_all() -> None:
    for spec in all_specs().values():
        register(spec)
