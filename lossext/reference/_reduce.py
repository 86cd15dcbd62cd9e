import torch


def reduce(loss: torch.Tensor, reduction: str, denominator=None) -> torch.Tensor:
    """'none' keeps the per-element loss, 'sum' adds it up, 'mean' divides the
    sum by `denominator` (default: the element count; 0/0 gives nan, as torch)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / (loss.numel() if denominator is None else denominator)
