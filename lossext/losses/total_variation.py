"""Total variation of images on a fused kernel: the forward reads each pixel
once (with its right and lower neighbours) and writes one value per image
plane; the backward reads each pixel's neighbourhood once and writes its
gradient once."""

import numbers

import torch
from torch import nn

from lossext import _ext, reference
from lossext._errors import ArgumentError
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext._validate import check_tensor
from lossext.losses._dtype import result_dtype


# The ops: fake kernels, samples and autograd (registered by lossext._ops from SPECS).


def _acc_dtype(img):
    return torch.float64 if img.dtype == torch.float64 else torch.float32


def _fwd_fake(img, isotropic, mean, beta, eps):
    return img.new_empty(img.shape[:-2], dtype=_acc_dtype(img))


def _bwd_fake(grad_loss, img, isotropic, mean, beta, eps):
    return torch.empty_like(img, memory_format=torch.contiguous_format)


def _setup(ctx, inputs, output):
    img, isotropic, mean, beta, eps = inputs
    ctx.save_for_backward(img)
    ctx.options = (isotropic, mean, beta, eps)


def _backward(ctx, grad_loss):
    (img,) = ctx.saved_tensors
    if building_graph():
        isotropic, mean, beta, eps = ctx.options
        (grad_img,) = torch_vjp(
            lambda x: reference.total_variation_loss(
                x.to(_acc_dtype(x)), "mean" if mean else "sum", isotropic, beta, eps
            ),
            (img,),
            ctx.needs_input_grad[:1],
            grad_loss,
        )
        return grad_img, None, None, None, None
    return torch.ops.lossext.total_variation_bwd(grad_loss, img, *ctx.options), None, None, None, None


def _options(isotropic):
    """(isotropic, mean, beta, eps): anisotropic sum, or isotropic mean with a power."""
    return (True, True, 1.5, 1e-3) if isotropic else (False, False, 1.0, 0.0)


def _fwd_samples(device):
    x = torch.randn(2, 3, 8, 9, device=device, requires_grad=True)
    return [(x, *_options(iso)) for iso in (False, True)]


def _bwd_samples(device):
    x = torch.randn(2, 3, 8, 9, device=device)
    return [(torch.randn(2, 3, device=device), x, *_options(iso)) for iso in (False, True)]


def _public(device):
    def step(img):
        return total_variation_loss(img, "mean", isotropic=True).sum() + total_variation_loss(img).sum()

    return step, (torch.randn(2, 3, 10, 12, device=device, requires_grad=True),)


SPECS = (
    OpSpec("total_variation_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("total_variation_bwd", _bwd_fake, _bwd_samples),
)


# The public functions (exported by lossext.functional and lossext).


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


# The modules (exported by lossext.nn).


class TotalVariationLoss(nn.Module):
    """Total variation per image plane (``kornia.losses.TotalVariation``);
    see :func:`lossext.total_variation_loss`."""

    def __init__(
        self, reduction: str = "sum", isotropic: bool = False, beta: float = 1.0, eps: float = 0.0
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.isotropic = isotropic
        self.beta = beta
        self.eps = eps

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return total_variation_loss(img, self.reduction, self.isotropic, self.beta, self.eps)
