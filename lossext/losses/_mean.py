"""The 'mean' reduction over a count that can be zero (every target ignored)."""

import torch


def mean_or_nan(total: torch.Tensor, count) -> torch.Tensor:
    """total / count, nan when count == 0, as torch's losses give; the gradient
    is then zero everywhere (torch's convention for an empty mean), not the
    0 * inf = nan that a plain division would send into the backward kernels.
    No host sync: the choice is a torch.where on the device."""
    if not isinstance(count, torch.Tensor):
        return total / count if count != 0 else _nan_like(total) + 0 * total
    empty = count == 0
    safe = torch.where(empty, torch.ones_like(count), count)
    return torch.where(empty, _nan_like(total), total / safe)


def _nan_like(total: torch.Tensor) -> torch.Tensor:
    return torch.full_like(total, float("nan"))


def class_weight_total(
    row_weight: torch.Tensor, weight, target: torch.Tensor, ignore_index: int
) -> torch.Tensor:
    """The 'mean' denominator sum of w_y over non-ignored rows. The kernels'
    per-row weights carry no gradient; when the class weight requires one,
    the sum is taken again with torch ops so that its share reaches weight."""
    if weight is None or not (weight.requires_grad and torch.is_grad_enabled()):
        return row_weight.sum()
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    w_y = torch.where(
        valid,
        weight.to(row_weight.dtype)[safe],
        torch.zeros((), dtype=row_weight.dtype, device=row_weight.device),
    )
    return w_y.sum()
