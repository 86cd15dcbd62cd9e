import torch

from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext.reference import bce as ref

# kind codes of csrc/kernels/bce.h (BceKind)
BCE, QUALITY_FOCAL, VARIFOCAL = 0, 1, 2


def _acc_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _fwd_fake(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows):
    if reduce_rows:
        return input.new_empty((input.shape[0],), dtype=_acc_dtype(input.dtype))
    return input.new_empty(input.shape)


def _bwd_fake(
    grad_loss, input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows, target_grad
):
    shape = input.shape if target_grad else (0, 0)
    return input.new_empty(input.shape), input.new_empty(shape)


def op_reference(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows):
    """bce_fwd written with torch ops (the reference formulas), for the
    gradients the kernels do not give: second derivatives, and weight /
    pos_weight / focal targets that require grad."""
    x = input.double() if input.dtype == torch.float64 else input.float()
    t = target.to(x.dtype)
    if label is not None:
        t = ref._dense_quality_target(label, t, x.shape[1], x.dtype)
    if kind == BCE:
        loss = ref._bce_elements(x, t, None, pos_weight)
    elif kind == QUALITY_FOCAL:
        loss = ref._focal_elements(x, t, exponent)
    else:
        loss = ref._varifocal_elements(x, t, alpha, exponent, iou_weighted)
    if weight is not None:
        loss = loss * weight
    return loss.sum(dim=1) if reduce_rows else loss.to(input.dtype)


def _setup(ctx, inputs, output):
    input, target, label, weight, pos_weight, *options = inputs
    ctx.save_for_backward(input, target, label, weight, pos_weight)
    ctx.options = tuple(options)


def _backward(ctx, grad_loss):
    input, target, label, weight, pos_weight = ctx.saved_tensors
    kind = ctx.options[0]
    needs = ctx.needs_input_grad
    # The kernels differentiate the logits, and BCE's dense target; the rest
    # (and every second derivative) goes through the reference formulas.
    if building_graph() or needs[3] or needs[4] or (needs[1] and (kind != BCE or label is not None)):
        grads = torch_vjp(
            lambda x, t, w, pw: op_reference(x, t, label, w, pw, *ctx.options),
            (input, target, weight, pos_weight),
            (needs[0], needs[1], needs[3], needs[4]),
            grad_loss,
        )
        return grads[0], grads[1], None, grads[2], grads[3], None, None, None, None, None
    grad_input, grad_target = torch.ops.lossext.bce_bwd(
        grad_loss, input, target, label, weight, pos_weight, *ctx.options, needs[1]
    )
    return (
        grad_input if needs[0] else None,
        grad_target if needs[1] else None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    )


def _fwd_samples(device):
    x = torch.randn(9, 5, device=device, requires_grad=True)
    t = torch.rand(9, 5, device=device)
    label = torch.tensor([0, 4, 5, 2, -1, 1, 3, 5, 0], device=device)
    score = torch.rand(9, device=device)
    w = torch.rand(5, device=device).expand(9, 5)
    pw = torch.rand(9, 1, device=device).expand(9, 5) * 3
    vt = t * (t > 0.6)
    return [
        (x, t, None, None, None, BCE, 0.75, 2.0, True, False),
        (x, t.clone().requires_grad_(), None, w, pw, BCE, 0.75, 2.0, True, True),
        (x, score, label, None, None, QUALITY_FOCAL, 0.75, 2.0, True, True),
        (x, t, None, torch.rand(9, 5, device=device), None, QUALITY_FOCAL, 0.75, 1.5, True, True),
        (x, vt, None, None, None, VARIFOCAL, 0.75, 2.0, True, False),
        (x, vt, None, w, None, VARIFOCAL, 0.5, 1.0, False, True),
    ]


def _bwd_samples(device):
    x, t = torch.randn(9, 5, device=device), torch.rand(9, 5, device=device)
    label, score = torch.randint(0, 6, (9,), device=device), torch.rand(9, device=device)
    g_elem, g_rows = torch.rand(9, 5, device=device), torch.rand(9, device=device)
    return [
        (g_elem, x, t, None, None, torch.rand(5, device=device).expand(9, 5), BCE, 0.75, 2.0, True, False, True),
        (g_rows, x, score, label, None, None, QUALITY_FOCAL, 0.75, 2.0, True, True, False),
        (g_elem, x, t * (t > 0.5), None, None, None, VARIFOCAL, 0.75, 1.5, False, False, False),
    ]


def _public(device):
    from lossext import functional

    def step(x, t, label, score):
        return (
            functional.binary_cross_entropy_with_logits(x, t)
            + functional.quality_focal_loss(x, (label, score))
            + functional.varifocal_loss(x, t * (t > 0.5), reduction="sum")
        )

    return step, (
        torch.randn(30, 4, device=device, requires_grad=True),
        torch.rand(30, 4, device=device),
        torch.randint(0, 5, (30,), device=device),
        torch.rand(30, device=device),
    )

SPECS = (
    OpSpec("bce_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("bce_bwd", _bwd_fake, _bwd_samples),
)
