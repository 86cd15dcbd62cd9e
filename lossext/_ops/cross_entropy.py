import torch

from lossext import reference
from lossext._ops._common import accumulate_dtype, class_broadcast, row_shape
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp


def _row_outputs(input):
    out = input.new_empty(row_shape(input), dtype=accumulate_dtype(input.dtype))
    return out, torch.empty_like(out), torch.empty_like(out)


def _index_fwd_fake(input, target, weight, ignore_index, label_smoothing, z_loss):
    return _row_outputs(input)


def _prob_fwd_fake(input, target, weight, label_smoothing, z_loss):
    return _row_outputs(input)


def _index_bwd_fake(grad_loss, input, target, weight, lse, ignore_index, label_smoothing, z_loss):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _prob_bwd_fake(grad_loss, input, target, weight, lse, target_mass, label_smoothing, z_loss):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _index_setup(ctx, inputs, output):
    input, target, weight, ignore_index, label_smoothing, z_loss = inputs
    _, lse, row_weight = output
    ctx.save_for_backward(input, target, weight, lse)
    ctx.options = (ignore_index, label_smoothing, z_loss)
    ctx.mark_non_differentiable(lse, row_weight)


def _index_loss(input, target, weight, ignore_index, label_smoothing, z_loss):
    """The op's per-row loss in torch ops (for torch_vjp)."""
    x = input.to(accumulate_dtype(input.dtype))
    return reference.cross_entropy(x, target, weight, ignore_index, "none", label_smoothing, z_loss)


def _prob_loss(input, target, weight, label_smoothing, z_loss):
    x = input.to(accumulate_dtype(input.dtype))
    return reference.cross_entropy(x, target, weight, -100, "none", label_smoothing, z_loss)


def _index_backward(ctx, grad_loss, _grad_lse, _grad_row_weight):
    input, target, weight, lse = ctx.saved_tensors
    if grad_loss is None:
        grad_loss = torch.zeros_like(lse)
    if building_graph() or ctx.needs_input_grad[2]:
        grad_input, grad_weight = torch_vjp(
            lambda x, w: _index_loss(x, target, w, *ctx.options),
            (input, weight),
            (ctx.needs_input_grad[0], ctx.needs_input_grad[2]),
            grad_loss,
        )
        return grad_input, None, grad_weight, None, None, None
    grad_input = torch.ops.lossext.cross_entropy_index_bwd(
        grad_loss, input, target, weight, lse, *ctx.options
    )
    return grad_input, None, None, None, None, None


def _prob_setup(ctx, inputs, output):
    input, target, weight, label_smoothing, z_loss = inputs
    _, lse, target_mass = output
    ctx.save_for_backward(input, target, weight, lse, target_mass)
    ctx.options = (label_smoothing, z_loss)
    ctx.mark_non_differentiable(lse, target_mass)


def _prob_backward(ctx, grad_loss, _grad_lse, _grad_mass):
    input, target, weight, lse, target_mass = ctx.saved_tensors
    label_smoothing, z_loss = ctx.options
    if grad_loss is None:
        grad_loss = torch.zeros_like(lse)
    if building_graph() or ctx.needs_input_grad[2]:
        grads = torch_vjp(
            lambda x, t, w: _prob_loss(x, t, w, label_smoothing, z_loss),
            (input, target, weight),
            ctx.needs_input_grad[:3],
            grad_loss,
        )
        return (*grads, None, None)
    grad_input = grad_target = None
    if ctx.needs_input_grad[0]:
        grad_input = torch.ops.lossext.cross_entropy_prob_bwd(
            grad_loss, input, target, weight, lse, target_mass, label_smoothing, z_loss
        )
    if ctx.needs_input_grad[1]:
        # d loss / d t_c = -(1-e) w_c log p_c: rare (distillation through the
        # teacher), so plain torch ops rather than a kernel.
        log_p = input.to(lse.dtype) - lse.unsqueeze(1)
        g = -(1 - label_smoothing) * grad_loss.to(lse.dtype).unsqueeze(1) * log_p
        if weight is not None:
            g = g * class_broadcast(weight.to(lse.dtype), input)
        grad_target = g.to(target.dtype)
    return grad_input, grad_target, None, None, None


def _inputs(device):
    """Logits (6, 5, 2), index targets with one ignored, probability targets, class weights."""
    x = torch.randn(6, 5, 2, device=device)
    y = torch.randint(0, 5, (6, 2), device=device)
    y[0, 0] = -100
    t = torch.softmax(torch.randn(6, 5, 2, device=device), 1)
    return x, y, t, torch.rand(5, device=device)


def _index_fwd_samples(device):
    x, y, _, w = _inputs(device)
    x.requires_grad_()
    return [(x, y, weight, -100, 0.1, 1e-3) for weight in (None, w)]


def _prob_fwd_samples(device):
    x, _, t, w = _inputs(device)
    return [(x.requires_grad_(), t, None, 0.1, 1e-3), (x, t.requires_grad_(), w, 0.0, 0.0)]


def _index_bwd_samples(device):
    x, y, _, w = _inputs(device)
    samples = []
    for weight in (None, w):
        loss, lse, _ = torch.ops.lossext.cross_entropy_index_fwd(x, y, weight, -100, 0.1, 1e-3)
        samples.append((torch.rand_like(loss), x, y, weight, lse, -100, 0.1, 1e-3))
    return samples


def _prob_bwd_samples(device):
    x, _, t, w = _inputs(device)
    samples = []
    for weight in (None, w):
        loss, lse, mass = torch.ops.lossext.cross_entropy_prob_fwd(x, t, weight, 0.1, 1e-3)
        samples.append((torch.rand_like(loss), x, t, weight, lse, mass, 0.1, 1e-3))
    return samples


def _public(device):
    from lossext import functional

    def step(x, y, t, w):
        return functional.cross_entropy(x, y, w, label_smoothing=0.1, z_loss=1e-4) + functional.cross_entropy(
            x, t, reduction="sum"
        )

    x, y, t, w = _inputs(device)
    return step, (x.requires_grad_(), y, t, w)


SPECS = (
    OpSpec(
        "cross_entropy_index_fwd", _index_fwd_fake, _index_fwd_samples, _index_backward, _index_setup, _public
    ),
    OpSpec("cross_entropy_prob_fwd", _prob_fwd_fake, _prob_fwd_samples, _prob_backward, _prob_setup, _public),
    OpSpec("cross_entropy_index_bwd", _index_bwd_fake, _index_bwd_samples),
    OpSpec("cross_entropy_prob_bwd", _prob_bwd_fake, _prob_bwd_samples),
)
