import torch

from lossext import reference
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp


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
    from lossext import functional

    def step(img):
        return (
            functional.total_variation_loss(img, "mean", isotropic=True).sum()
            + functional.total_variation_loss(img).sum()
        )

    return step, (torch.randn(2, 3, 10, 12, device=device, requires_grad=True),)


SPECS = (
    OpSpec("total_variation_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("total_variation_bwd", _bwd_fake, _bwd_samples),
)
