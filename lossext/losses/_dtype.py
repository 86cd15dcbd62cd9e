"""The dtype a fused loss is returned in."""

import torch

_HALF = (torch.float16, torch.bfloat16)


def result_dtype(input: torch.Tensor) -> torch.dtype:
    """The input's dtype, except float32 for float16/bfloat16 input under
    torch.autocast on the input's device: torch's own losses run in float32
    there, and a float16 loss would overflow under GradScaler's default scale
    (2^16 > 65504), turning every gradient into inf. The kernels still read
    the half-precision input; only the returned value is wider."""
    if input.dtype in _HALF and torch.is_autocast_enabled(input.device.type):
        return torch.float32
    return input.dtype
