"""Helpers for losses normalised across data-parallel workers."""

from __future__ import annotations

import torch
import torch.distributed as dist

from lossext._validate import check_number


def global_normalizer(num_positives, average: bool = True, group=None) -> torch.Tensor:
    """The positive-anchor count shared by every worker, as a float tensor.

    All-reduces ``num_positives`` (a number or tensor, e.g. ``(labels >= 0).sum()``)
    over ``group``: the mean over workers when ``average`` (RetinaNet in
    detectron2, DETR), the sum otherwise; then clamps it to >= 1, as both do,
    so that a batch without positives divides by 1 rather than by 0.
    The result stays on the device: no ``.item()``, no host sync (the
    collective itself is asynchronous to the host on NCCL). Without an
    initialised process group (or without torch.distributed) it only converts
    and clamps.

    On NCCL the tensor must be on the GPU that the process group uses.
    """
    if isinstance(num_positives, torch.Tensor):
        count = num_positives.detach()
        count = count.clone() if count.is_floating_point() else count.float()  # all_reduce is in place
    else:
        count = torch.tensor(check_number(num_positives, "num_positives"), dtype=torch.float32)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(count, op=dist.ReduceOp.SUM, group=group)
        if average:
            count = count / dist.get_world_size(group)
    return torch.clamp(count, min=1.0)
