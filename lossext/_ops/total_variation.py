import torch

from lossext import reference
from lossext._ops._torch_vjp import building_graph, torch_vjp


def _acc_dtype(img):
    return torch.float64 if img.dtype == torch.float64 else torch.float32


@torch.library.register_fake("lossext::total_variation_fwd")
def _fwd_fake(img, isotropic, mean, beta, eps):
    return img.new_empty(img.shape[:-2], dtype=_acc_dtype(img))


@torch.library.register_fake("lossext::total_variation_bwd")
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


torch.library.register_autograd("lossext::total_variation_fwd", _backward, setup_context=_setup)
