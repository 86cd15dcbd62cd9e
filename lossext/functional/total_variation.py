"""Total variation of images on a fused kernel: the forward reads each pixel
once (with its right and lower neighbours) and writes one value per image
plane; the backward reads each pixel's neighbourhood once and writes its
gradient once."""

import numbers

import torch

from lossext import _ext, reference
from lossext.functional._dtype import result_dtype
from lossext._validate import check_tensor
from lossext._errors import ArgumentError


def total_variation_loss(
    img: torch.Tensor, reduction: str = "sum", isotropic: bool = False, beta: float = 1.0, eps: float = 0.0
) -> torch.Tensor:
    """Total variation of each image plane, a drop-in for ``kornia.losses.total_variation``.

    With ``dy = I[..., 1:, :] - I[..., :-1, :]`` and ``dx = I[..., :, 1:] - I[..., :, :-1]``:

    - anisotropic (default, kornia): ``sum |dy| + sum |dx|``;
    - ``isotropic=True``: ``sum (dx^2 + dy^2 + eps)^(beta/2)`` over the
      (H-1) x (W-1) cells where both differences exist (the last row's
      horizontal and the last column's vertical differences are left out);
      ``beta = 1`` is the Rudin-Osher-Fatemi TV, ``beta = 2`` its square
      (Mahendran and Vedaldi's beta-TV). A cell with ``dx^2 + dy^2 + eps == 0``
      has gradient 0 (a subgradient), so the gradient is finite for every
      image; ``eps > 0`` smooths the kink instead (and adds ``eps^(beta/2)``
      per flat cell).

    Args:
        img: (*, H, W), floating (integers are promoted to float32). Each of
            the leading dims is kept: (B, C, H, W) gives (B, C), as kornia.
        reduction: 'sum' | 'mean'. 'mean' averages each term over its own
            number of differences ((H-1) W vertical, H (W-1) horizontal,
            (H-1)(W-1) cells) and adds them, as kornia; a term without
            differences (H == 1 or W == 1) is 0.
        isotropic: see above.
        beta: exponent > 0 of the isotropic form (must be 1 otherwise).
        eps: >= 0, added under the isotropic power (must be 0 otherwise).

    Returns a tensor of shape ``img.shape[:-2]`` in img's dtype, accumulated in
    float32 for float16/bfloat16 (float64 for float64). The gradient of |d|
    at d = 0 is 0, as torch's abs. nan pixels give nan.
    """
    check_tensor(img, "img")
    if img.dim() < 2:
        raise ArgumentError(f"img must have at least 2 dims (*, H, W), got shape {tuple(img.shape)}")
    if img.dtype == torch.bool or img.is_complex():
        raise TypeError(f"img must be a floating or integer tensor, got {img.dtype}")
    if reduction not in ("sum", "mean"):
        # kornia has no 'none': the result is already one value per plane.
        raise ArgumentError(f"Invalid reduction {reduction!r}: expected 'sum' or 'mean'")
    if not isinstance(isotropic, bool):
        raise TypeError(f"isotropic must be a bool, got {type(isotropic).__name__}")
    for name, value in (("beta", beta), ("eps", eps)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (beta > 0 and beta < float("inf")):
        raise ArgumentError(f"beta must be a finite number > 0, got {beta}")
    if not (eps >= 0 and eps < float("inf")):
        raise ArgumentError(f"eps must be a finite number >= 0, got {eps}")
    if not isotropic and (beta != 1 or eps != 0):
        raise ArgumentError("beta and eps apply to the isotropic form only; pass isotropic=True")
    if not img.is_floating_point():
        img = img.float()
    if not _ext.has_kernels(img.device):
        _ext.warn_fallback("total_variation_loss", img.device)
        return reference.total_variation_loss(img, reduction, isotropic, beta, eps)
    loss = torch.ops.lossext.total_variation_fwd(img, isotropic, reduction == "mean", float(beta), float(eps))
    return loss.to(result_dtype(img))
