"""Gradients through a torch-op rewrite of an op's forward.

The fused backward kernels are not differentiable themselves. Two cases call
for gradients that are:

- a graph is being built during the backward (``create_graph=True``:
  gradient penalties, MAML, Hessian-vector products), recognised by grad mode
  being on inside the backward. The vector-Jacobian product of the rewrite
  is then itself part of the graph, so second derivatives are exact;
- an argument the kernels take as a constant wants a gradient (a class
  ``weight`` or ``alpha`` tensor that requires grad). This is rare, so its
  gradient is computed with torch ops rather than by a kernel.

``forward`` is a function of the op's tensor arguments written with torch
ops (the reference formulas) returning the op's differentiable output.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch


def building_graph() -> bool:
    """Whether the backward that is running records a graph (create_graph)."""
    return torch.is_grad_enabled()


def torch_vjp(
    forward: Callable[..., torch.Tensor],
    tensors: Sequence[torch.Tensor | None],
    needs_grad: Sequence[bool],
    grad_output: torch.Tensor,
) -> list[torch.Tensor | None]:
    """Gradients of ``(forward(*tensors) * grad_output).sum()`` for each tensor
    whose ``needs_grad`` is set (None for the others).

    While a graph is built the tensors keep their history and the result is
    differentiable (in the tensors and in grad_output); otherwise detached
    copies are differentiated and the result carries no history."""
    record = building_graph()
    args = []
    for tensor, needed in zip(tensors, needs_grad):
        if tensor is None or record:
            args.append(tensor)
        else:
            args.append(tensor.detach().requires_grad_(needed))
    wanted = [i for i, (tensor, needed) in enumerate(zip(args, needs_grad)) if needed and tensor is not None]
    grads: list[torch.Tensor | None] = [None] * len(tensors)
    if not wanted:
        return grads
    with torch.enable_grad():
        out = forward(*args)
        found = torch.autograd.grad(
            out,
            [args[i] for i in wanted],
            grad_output.to(out.dtype),
            create_graph=record,
            allow_unused=True,
        )
    for i, g in zip(wanted, found):
        if g is None:
            g = torch.zeros_like(args[i])
        grads[i] = g.to(tensors[i].dtype)
    return grads
