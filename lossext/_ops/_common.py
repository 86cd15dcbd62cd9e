import torch


def accumulate_dtype(dtype: torch.dtype) -> torch.dtype:
    """Per-row statistics are float32, or float64 for float64 input."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def row_shape(input: torch.Tensor) -> list:
    """(N, C, d1, ..., dk) -> (N, d1, ..., dk)."""
    return [input.shape[0], *input.shape[2:]]


def class_broadcast(weight: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
    """A (C,) vector shaped to broadcast along dim 1 of input."""
    shape = [1] * input.dim()
    shape[1] = input.shape[1]
    return weight.view(shape)
