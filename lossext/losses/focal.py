"""Focal losses: sigmoid focal (RetinaNet) with dense or class-index targets,
softmax focal, and mmdet's quality focal (GFL) and varifocal losses.

sigmoid_focal_loss and softmax_focal_loss run fused kernels; quality_focal_loss
and varifocal_loss are compositions of torch ops (the reference formulas).
"""

import numbers

import torch
from torch import nn

from lossext import _ext, reference
from lossext._errors import ArgumentError
from lossext._ops._common import accumulate_dtype, row_shape
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext._validate import (
    check_class_weight,
    check_floating,
    check_int,
    check_number,
    check_reduction,
    check_same_device,
    check_tensor,
    check_values,
)
from lossext.losses._dtype import result_dtype
from lossext.losses._mean import class_weight_total, mean_or_nan


# The ops: fake kernels, samples and autograd (registered by lossext._ops from SPECS).
#
# Sigmoid focal has two designs, picked per device by sigmoid_focal_loss below:
#
# - CUDA (and CPU inference): ``sigmoid_focal_fwd`` writes only the loss (per
#   row when reduced) and ``sigmoid_focal_bwd`` recomputes each element from the
#   logits and targets: 12 bytes per float32 element over both passes against
#   16 for saving a gradient (apex's design), and no gradient-sized buffer held
#   between forward and backward. Memory traffic bounds these kernels on the GPU.
# - CPU when a gradient will be needed: ``sigmoid_focal_fwd_with_grad`` returns
#   the loss and dL/dx of every element from one evaluation of the element math
#   (one exp, one log1p, one division), and the backward
#   ``sigmoid_focal_bwd_saved`` only scales that saved derivative by the upstream
#   gradient. The CPU is bound by the arithmetic, so this halves the
#   transcendental work of forward + backward, at the cost of a logits-sized
#   buffer (input dtype) alive from forward to backward. See docs/focal.md.
#   Only float32 and float64 logits take it: a float16/bfloat16 derivative
#   would be rounded (and underflow) before the upstream gradient (a loss
#   scale) multiplies it, so half types recompute, rounding the product once.
#
# Second derivatives (create_graph=True) and gradients of a ``weight`` or
# ``alpha`` tensor go through the reference formulas (see _torch_vjp.py), so
# both designs keep the inputs, targets and weights of the call.


def _sigmoid_fwd_fake(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    shape = input.shape[:1] if reduce_rows else input.shape
    return input.new_empty(shape, dtype=accumulate_dtype(input.dtype))


def _sigmoid_bwd_fake(
    grad_loss, input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows
):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _sigmoid_fwd_with_grad_fake(
    input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows
):
    loss = _sigmoid_fwd_fake(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows)
    return loss, torch.empty_like(input, memory_format=torch.contiguous_format)


def _sigmoid_bwd_saved_fake(grad_loss, dloss_dinput, reduce_rows):
    return torch.empty_like(dloss_dinput, memory_format=torch.contiguous_format)


def _softmax_fwd_fake(input, target, alpha, weight, gamma, ignore_index):
    out = input.new_empty(row_shape(input), dtype=accumulate_dtype(input.dtype))
    return out, torch.empty_like(out), torch.empty_like(out)


def _softmax_bwd_fake(grad_loss, input, target, alpha, weight, lse, gamma, ignore_index):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _sigmoid_loss(input, target, weight, alpha, gamma, ignore_index, label_smoothing, reduce_rows):
    """The op's loss (per element, or per row when reduce_rows) in torch ops."""
    x = input.to(accumulate_dtype(input.dtype))
    loss = reference.sigmoid_focal_loss(
        x,
        target,
        alpha,
        gamma,
        "none",
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    return loss.sum(-1) if reduce_rows else loss


def _sigmoid_vjp(ctx, grad_loss, input, target, weight, options):
    grad_input, grad_weight = torch_vjp(
        lambda x, w: _sigmoid_loss(x, target, w, *options),
        (input, weight),
        (ctx.needs_input_grad[0], ctx.needs_input_grad[2]),
        grad_loss,
    )
    return grad_input, None, grad_weight, None, None, None, None, None


def _sigmoid_setup(ctx, inputs, output):
    input, target, weight, *options = inputs
    ctx.save_for_backward(input, target, weight)
    ctx.options = options


def _sigmoid_backward(ctx, grad_loss):
    input, target, weight = ctx.saved_tensors
    if building_graph() or ctx.needs_input_grad[2]:
        return _sigmoid_vjp(ctx, grad_loss, input, target, weight, ctx.options)
    grad_input = torch.ops.lossext.sigmoid_focal_bwd(grad_loss, input, target, weight, *ctx.options)
    return grad_input, None, None, None, None, None, None, None


def _sigmoid_with_grad_setup(ctx, inputs, output):
    input, target, weight, *options = inputs
    _, dloss_dinput = output
    # The derivative is saved, never written to: the backward reads it into a
    # new tensor, so retain_graph and repeated backward calls see it intact.
    # The inputs are kept for a second derivative or a weight gradient.
    ctx.save_for_backward(dloss_dinput, input, target, weight)
    ctx.options = options
    ctx.mark_non_differentiable(dloss_dinput)


def _sigmoid_with_grad_backward(ctx, grad_loss, _grad_dloss_dinput):
    dloss_dinput, input, target, weight = ctx.saved_tensors
    if grad_loss is None:
        return (None,) * 8
    if building_graph() or ctx.needs_input_grad[2]:
        return _sigmoid_vjp(ctx, grad_loss, input, target, weight, ctx.options)
    grad_input = torch.ops.lossext.sigmoid_focal_bwd_saved(grad_loss, dloss_dinput, ctx.options[-1])
    return grad_input, None, None, None, None, None, None, None


def _softmax_loss(input, target, alpha, weight, gamma, ignore_index):
    x = input.to(accumulate_dtype(input.dtype))
    return reference.softmax_focal_loss(x, target, alpha, gamma, weight, ignore_index, "none")


def _softmax_setup(ctx, inputs, output):
    input, target, alpha, weight, gamma, ignore_index = inputs
    _, lse, row_weight = output
    ctx.save_for_backward(input, target, alpha, weight, lse)
    ctx.options = (gamma, ignore_index)
    ctx.mark_non_differentiable(lse, row_weight)


def _softmax_backward(ctx, grad_loss, _grad_lse, _grad_row_weight):
    input, target, alpha, weight, lse = ctx.saved_tensors
    if grad_loss is None:
        grad_loss = torch.zeros_like(lse)
    if building_graph() or ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:
        grad_input, grad_alpha, grad_weight = torch_vjp(
            lambda x, a, w: _softmax_loss(x, target, a, w, *ctx.options),
            (input, alpha, weight),
            (ctx.needs_input_grad[0], ctx.needs_input_grad[2], ctx.needs_input_grad[3]),
            grad_loss,
        )
        return grad_input, None, grad_alpha, grad_weight, None, None
    grad_input = torch.ops.lossext.softmax_focal_bwd(
        grad_loss, input, target, alpha, weight, lse, *ctx.options
    )
    return grad_input, None, None, None, None, None


def _sigmoid_inputs(device, requires_grad):
    """Logits (6, 5), index targets (positive, background -1, ignored -100),
    dense targets, class weights; each target with and without row reduction."""
    x = torch.randn(6, 5, device=device, requires_grad=requires_grad)
    y = torch.tensor([0, -1, 4, -100, 2, 1], device=device)
    t = torch.rand(6, 5, device=device)
    return x, [(y, True), (y, False), (t, False), (t, True)], torch.rand(5, device=device)


def _sigmoid_fwd_samples(device):
    x, targets, w = _sigmoid_inputs(device, requires_grad=True)
    return [(x, target, w, 0.25, 2.0, -100, 0.1, reduce_rows) for target, reduce_rows in targets]


def _sigmoid_bwd_samples(device):
    x, targets, w = _sigmoid_inputs(device, requires_grad=False)
    samples = []
    for target, reduce_rows in targets:
        grad_loss = torch.rand(6 if reduce_rows else (6, 5), device=device)
        samples.append((grad_loss, x, target, w, 0.25, 0.5, -100, 0.0, reduce_rows))
    return samples


def _sigmoid_bwd_saved_samples(device):
    x, targets, w = _sigmoid_inputs(device, requires_grad=False)
    samples = []
    for target, reduce_rows in targets:
        _, d = torch.ops.lossext.sigmoid_focal_fwd_with_grad(x, target, w, 0.25, 1.5, -100, 0.1, reduce_rows)
        g = torch.rand(6 if reduce_rows else (6, 5), device=device)
        samples += [(g, d, reduce_rows), (torch.tensor(0.5, device=device).expand(g.shape), d, reduce_rows)]
    return samples


def _softmax_inputs(device):
    x = torch.randn(4, 5, 3, device=device)
    y = torch.randint(0, 5, (4, 3), device=device)
    y[0, 0] = -100
    return x, y, torch.rand(5, device=device)


def _softmax_fwd_samples(device):
    x, y, a = _softmax_inputs(device)
    x.requires_grad_()
    return [(x, y, a, None, 2.0, -100), (x, y, None, a, 1.5, -100)]


def _softmax_bwd_samples(device):
    x, y, a = _softmax_inputs(device)
    _, lse, _ = torch.ops.lossext.softmax_focal_fwd(x, y, a, None, 2.0, -100)
    return [(torch.rand(4, 3, device=device), x, y, a, None, lse, 0.5, -100)]


def _public_sigmoid(device, requires_grad):
    if requires_grad is None:  # the recomputing design: CPU inference, CUDA always
        requires_grad = device.type != "cpu"

    def step(x, y, n):
        return sigmoid_focal_loss(x, y, reduction="sum", normalizer=n)

    x = torch.randn(64, 10, device=device, requires_grad=requires_grad)
    y = torch.randint(-1, 10, (64,), device=device)
    return step, (x, y, (y >= 0).sum().clamp(min=1))


def _public_sigmoid_with_grad(device):
    """The saved-derivative design: CPU only, when a gradient will be needed."""
    return _public_sigmoid(device, True) if device.type == "cpu" else None


def _public_softmax(device):
    def step(x, y):
        return softmax_focal_loss(x, y, 0.25, 1.5)

    x = torch.randn(64, 10, device=device, requires_grad=True)
    return step, (x, torch.randint(0, 10, (64,), device=device))


SPECS = (
    OpSpec(
        "sigmoid_focal_fwd",
        _sigmoid_fwd_fake,
        _sigmoid_fwd_samples,
        _sigmoid_backward,
        _sigmoid_setup,
        lambda device: _public_sigmoid(device, None),
    ),
    OpSpec("sigmoid_focal_bwd", _sigmoid_bwd_fake, _sigmoid_bwd_samples),
    OpSpec(
        "sigmoid_focal_fwd_with_grad",
        _sigmoid_fwd_with_grad_fake,
        _sigmoid_fwd_samples,
        _sigmoid_with_grad_backward,
        _sigmoid_with_grad_setup,
        _public_sigmoid_with_grad,
        devices=("cpu",),
    ),
    OpSpec("sigmoid_focal_bwd_saved", _sigmoid_bwd_saved_fake, _sigmoid_bwd_saved_samples, devices=("cpu",)),
    OpSpec(
        "softmax_focal_fwd",
        _softmax_fwd_fake,
        _softmax_fwd_samples,
        _softmax_backward,
        _softmax_setup,
        _public_softmax,
    ),
    OpSpec("softmax_focal_bwd", _softmax_bwd_fake, _softmax_bwd_samples),
)


# The public functions (exported by lossext.functional and lossext).


def _check_alpha(alpha, name="alpha"):
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool):
        raise TypeError(f"{name} must be a float, got {type(alpha).__name__}")
    if not (alpha < 0 or alpha <= 1):
        raise ArgumentError(f"{name} must be in [0, 1], or negative to disable it, got {alpha}")


def _background_alpha(alpha: float, classes: int, like: torch.Tensor) -> torch.Tensor:
    """The per-class alpha of a float alpha: 1 - alpha for class 0, alpha for the others."""
    # float64: the kernel rounds it to its accumulation dtype, as it would the Python float.
    per_class = torch.full((classes,), alpha, dtype=torch.float64, device=like.device)
    per_class[0] = 1.0 - alpha
    return per_class


def _check_gamma(gamma, name="gamma"):
    check_number(gamma, name, 0)


def _check_dense_targets(targets):
    """Dense targets are probabilities: outside [0, 1] the focal factor
    (1 - p_t)^gamma leaves the domain the kernels' closed-form gradient is
    exact on. Checked on the CPU, where it costs no device sync; nan passes
    (it propagates to the loss and the gradient)."""
    if targets.device.type == "cpu" and not torch.compiler.is_compiling():
        t = targets.detach()
        check_values(~((t < 0) | (t > 1)), ArgumentError, "targets (dense) must lie in [0, 1]")


def _check_normalizer(normalizer, input):
    if normalizer is None or (isinstance(normalizer, numbers.Real) and not isinstance(normalizer, bool)):
        return
    if not isinstance(normalizer, torch.Tensor):
        raise TypeError(
            f"normalizer must be a float or a one-element tensor, got {type(normalizer).__name__}"
        )
    if normalizer.numel() != 1:
        raise ArgumentError(f"normalizer must be a one-element tensor, got shape {tuple(normalizer.shape)}")
    if normalizer.device != input.device and normalizer.device.type != "cpu":
        check_same_device(normalizer, "normalizer", input, "inputs")


def _check_sigmoid_args(
    inputs, targets, alpha, gamma, reduction, weight, normalizer, label_smoothing, ignore_index
):
    check_floating(inputs, "inputs")
    check_tensor(targets, "targets")
    check_reduction(reduction)
    _check_alpha(alpha)
    _check_gamma(gamma)
    check_int(ignore_index, "ignore_index")
    if not 0 <= label_smoothing <= 1:
        raise ArgumentError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    check_same_device(targets, "targets", inputs, "inputs")
    _check_normalizer(normalizer, inputs)
    if targets.is_floating_point():
        if targets.shape != inputs.shape:
            raise ArgumentError(
                f"dense targets must have the shape of inputs {tuple(inputs.shape)}, got {tuple(targets.shape)}"
            )
        _check_dense_targets(targets)
    elif targets.dtype == torch.int64:
        if inputs.dim() == 0 or targets.shape != inputs.shape[:-1]:
            raise ArgumentError(
                f"class-index targets must have shape inputs.shape[:-1] = {tuple(inputs.shape[:-1])}, "
                f"got {tuple(targets.shape)} (inputs {tuple(inputs.shape)})"
            )
    else:
        raise TypeError(f"targets must be floating (dense) or int64 class indices, got {targets.dtype}")
    classes = inputs.shape[-1] if inputs.dim() > 0 else 1
    check_class_weight(weight, "weight", classes, inputs)


def sigmoid_focal_loss(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    normalizer=None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Sigmoid focal loss (RetinaNet), a drop-in for ``torchvision.ops.sigmoid_focal_loss``.

    ``loss = w_c alpha_t (1 - p_t)^gamma BCEwithlogits(x, t)`` per element, with
    ``p = sigmoid(x)``, ``p_t = p t + (1-p)(1-t)``, ``alpha_t = alpha t + (1-alpha)(1-t)``.

    Args:
        inputs: logits of any shape (..., C), float16/bfloat16/float32/float64.
        targets: either dense floats of inputs' shape (torchvision's semantics,
            values and gradients), or int64 class indices of shape
            ``inputs.shape[:-1]``: c in [0, C) makes class c positive, -1 makes
            every class negative (background anchor), ``ignore_index``
            contributes nothing. The one-hot matrix is never built. Dense
            targets must lie in [0, 1]: the CPU raises ValueError otherwise;
            CUDA does not check them (that would cost a pass over the
            targets) and gives such elements a nan loss and gradient.
        alpha: weight of positives in [0, 1]; negative disables alpha_t.
        gamma: finite focusing exponent >= 0. Loss and gradient are finite for
            every such gamma, also 0 < gamma < 1 with saturated logits.
        reduction: 'none' (per element, inputs' shape) | 'mean' | 'sum'. 'mean'
            averages over all elements (dense targets, as torchvision) or over
            the elements of non-ignored rows (index targets).
        weight: optional per-class weights (C,), multiplying each element loss.
        ignore_index: index-target value that is skipped (checked before -1),
            an int. A 'mean' over rows that are all ignored is nan, with a
            zero gradient (as torch's cross-entropy).
        normalizer: float or one-element tensor (say, the number of positive
            anchors): when given the result is ``loss.sum() / normalizer`` for
            'mean' and 'sum' (``loss / normalizer`` for 'none'); a tensor is
            never read back to the host.
        label_smoothing: s in [0, 1], as NVIDIA apex's detection focal loss:
            the BCE term sees ``t' = t (1 - s) + s/2``; p_t and alpha_t keep
            the hard target.

    On CPU a class index outside [-1, C) that is not ``ignore_index`` raises
    IndexError; on CUDA it makes its row nan (no device sync). The gradient
    flows to ``inputs`` and to ``weight`` when it requires grad (dense
    targets that require grad run the reference, which differentiates them
    too); second derivatives (``create_graph=True``) are exact. Returns
    inputs' dtype.

    Memory: on CUDA the backward recomputes from the logits and targets. On
    CPU, when ``inputs`` requires grad and grad mode is on, the forward also
    writes dloss/dinputs (the CPU is compute-bound, so the element math runs
    once for both passes), a buffer of inputs' size and dtype that lives until
    the backward (or until the graph is freed), for float32 and float64
    inputs; float16 and bfloat16 recompute as CUDA does, so that the
    derivative is multiplied by the upstream gradient (a loss scale) in
    float32 and rounded once. Under ``torch.no_grad()`` the CPU forward
    computes and keeps only the loss.
    """
    _check_sigmoid_args(
        inputs, targets, alpha, gamma, reduction, weight, normalizer, label_smoothing, ignore_index
    )
    args = (inputs, targets, alpha, gamma, reduction)
    kwargs = dict(
        weight=weight, ignore_index=ignore_index, normalizer=normalizer, label_smoothing=label_smoothing
    )
    if not _ext.has_kernels(inputs.device):
        _ext.warn_fallback("sigmoid_focal_loss", inputs.device)
        return reference.sigmoid_focal_loss(*args, **kwargs)
    if inputs.numel() == 0 or targets.requires_grad:
        return reference.sigmoid_focal_loss(*args, **kwargs)

    index_targets = not targets.is_floating_point()
    classes = inputs.shape[-1] if inputs.dim() > 0 else 1
    x = inputs.reshape(-1, classes)
    t = targets.reshape(-1) if index_targets else targets.reshape(-1, classes)
    reduce_rows = reduction != "none"
    options = (weight, float(alpha), float(gamma), int(ignore_index), float(label_smoothing), reduce_rows)
    saved_derivative_exact = inputs.dtype in (torch.float32, torch.float64)
    if (
        inputs.device.type == "cpu"
        and inputs.requires_grad
        and torch.is_grad_enabled()
        and saved_derivative_exact
    ):
        # CPU training: dL/dx comes out of the forward's element math, the
        # backward only scales it (see the ops above). float16 and
        # bfloat16 recompute instead: a derivative stored in the input's
        # dtype underflows before a loss scale multiplies it.
        loss, _ = torch.ops.lossext.sigmoid_focal_fwd_with_grad(x, t, *options)
    else:
        loss = torch.ops.lossext.sigmoid_focal_fwd(x, t, *options)
    if reduction == "none":
        out = loss.reshape(inputs.shape)
        if normalizer is not None:
            out = out / normalizer
    else:
        out = loss.sum()
        if normalizer is not None:
            out = out / normalizer
        elif reduction == "mean":
            out = mean_or_nan(out, (t != ignore_index).sum() * classes if index_targets else x.numel())
    return out.to(result_dtype(inputs))


def softmax_focal_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    alpha=None,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    """Softmax focal loss ``-alpha_y w_y (1 - p_y)^gamma log p_y``, p = softmax(input) over dim 1.

    Args:
        input: logits (C,), (N, C) or (N, C, d1, ..., dk).
        target: int64 class indices (), (N,) or (N, d1, ..., dk).
        alpha: None (every class weighs 1); a float a in [0, 1]: class 0 (the
            background) weighs 1 - a and every other class a, as in kornia
            (>= 0.7) and MONAI; or a per-class tensor (C,).
        gamma: focusing exponent >= 0 (gamma = 0, alpha None: cross-entropy).
        weight: optional per-class weights (C,).
        ignore_index: target value contributing neither loss nor gradient.
        reduction: 'none' | 'mean' | 'sum', with ``F.cross_entropy``'s shapes and
            denominator: 'none' gives one value per row (the target's shape),
            'mean' divides by the summed weight w_y of non-ignored rows (the row
            count without weight); alpha does not enter the denominator. At
            gamma = 0 and alpha None this is ``F.cross_entropy``.

    kornia's ``focal_loss`` and MONAI's ``FocalLoss(use_softmax=True)`` return
    'none' as an (N, C, d1, ...) map that is zero off the target class (its sum
    over dim 1 is this 'none'), and their 'mean' divides by N·C·d1···dk, C times
    the row count: kornia's 'mean' is ``softmax_focal_loss(..., reduction='sum')
    / target.numel() / C``.
    """
    check_floating(input, "input")
    check_tensor(target, "target")
    check_reduction(reduction)
    _check_gamma(gamma)
    check_int(ignore_index, "ignore_index")
    check_same_device(target, "target", input, "input")
    if input.dim() == 0:
        raise ArgumentError("input must have shape (C,), (N, C) or (N, C, d1, ..., dk), got a 0-d tensor")
    if target.dtype != torch.int64:
        raise TypeError(f"target must hold int64 class indices, got {target.dtype}")
    expected = tuple(input.shape[:1]) + tuple(input.shape[2:]) if input.dim() > 1 else ()
    if tuple(target.shape) != expected:
        raise ArgumentError(
            f"target must have shape {expected} for input of shape {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    classes = input.shape[0 if input.dim() == 1 else 1]
    check_class_weight(weight, "weight", classes, input)
    if isinstance(alpha, torch.Tensor):
        check_class_weight(alpha, "alpha", classes, input)
    elif alpha is not None:
        _check_alpha(alpha)
        alpha = None if alpha < 0 else _background_alpha(float(alpha), classes, input)
    if not _ext.has_kernels(input.device):
        _ext.warn_fallback("softmax_focal_loss", input.device)
        return reference.softmax_focal_loss(input, target, alpha, gamma, weight, ignore_index, reduction)

    unbatched = input.dim() == 1
    if unbatched:
        input_b, target_b = input.unsqueeze(0), target.unsqueeze(0)
    else:
        input_b, target_b = input, target
    loss, _, row_weight = torch.ops.lossext.softmax_focal_fwd(
        input_b, target_b, alpha, weight, float(gamma), int(ignore_index)
    )
    if reduction == "none":
        out = loss.squeeze(0) if unbatched else loss
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = mean_or_nan(loss.sum(), class_weight_total(row_weight, weight, target_b, ignore_index))
    return out.to(result_dtype(input))


def _check_mmdet_reduce(reduction, avg_factor, weight, pred):
    check_reduction(reduction)
    if avg_factor is not None and reduction == "sum":
        raise ArgumentError('avg_factor can not be used with reduction="sum"')
    if weight is not None:
        check_floating(weight, "weight")
        check_same_device(weight, "weight", pred, "pred")


def quality_focal_loss(
    pred, target, weight=None, beta: float = 2.0, reduction: str = "mean", avg_factor=None
):
    """Quality focal loss (GFL), mmdet's ``quality_focal_loss`` semantics.

    ``pred`` (N, C) logits; ``target = (label, score)``: label (N,) int64 with
    foreground classes in [0, C) and background C (any value outside [0, C)),
    score (N,) the IoU quality in [0, 1]. Per element: BCE(x, score)
    |score - sigmoid(x)|^beta at the label's class, BCE(x, 0) sigmoid(x)^beta
    elsewhere; summed over classes to (N,). ``weight`` (N,) per row;
    'mean' with ``avg_factor`` is ``sum / (avg_factor + eps)`` as in mmdet.
    Composed of torch ops (no fused kernel).
    """
    check_floating(pred, "pred")
    if not isinstance(target, (tuple, list)) or len(target) != 2:
        raise TypeError("target must be a tuple (label, score)")
    label, score = target
    check_tensor(label, "label")
    check_floating(score, "score")
    if pred.dim() != 2:
        raise ArgumentError(f"pred must have shape (N, C), got {tuple(pred.shape)}")
    if label.is_floating_point() or label.shape != pred.shape[:1] or score.shape != pred.shape[:1]:
        raise ArgumentError(
            f"label (integer) and score must have shape ({pred.shape[0]},), got {tuple(label.shape)} and "
            f"{tuple(score.shape)}"
        )
    _check_gamma(beta, "beta")
    _check_mmdet_reduce(reduction, avg_factor, weight, pred)
    return reference.quality_focal_loss(pred, (label, score), weight, beta, reduction, avg_factor)


def varifocal_loss(
    pred,
    target,
    weight=None,
    alpha: float = 0.75,
    gamma: float = 2.0,
    iou_weighted: bool = True,
    reduction: str = "mean",
    avg_factor=None,
):
    """Varifocal loss, mmdet's ``varifocal_loss`` semantics.

    ``pred`` (N, C) logits, ``target`` (N, C) IoU-aware scores (0 for
    negatives). Per element: BCE(x, q) q (q > 0; 1 instead of q when not
    iou_weighted), alpha |sigmoid(x) - q|^gamma BCE(x, q) otherwise.
    Composed of torch ops (no fused kernel).
    """
    check_floating(pred, "pred")
    check_floating(target, "target")
    if target.shape != pred.shape:
        raise ArgumentError(
            f"target must have the shape of pred {tuple(pred.shape)}, got {tuple(target.shape)}"
        )
    if not isinstance(alpha, numbers.Real) or not alpha >= 0:
        raise ArgumentError(f"alpha must be >= 0, got {alpha}")
    _check_gamma(gamma)
    _check_mmdet_reduce(reduction, avg_factor, weight, pred)
    return reference.varifocal_loss(pred, target, weight, alpha, gamma, iou_weighted, reduction, avg_factor)


# The modules (exported by lossext.nn).


class SigmoidFocalLoss(nn.Module):
    """Sigmoid focal loss; see :func:`lossext.sigmoid_focal_loss`. ``normalizer``
    is a forward argument (it changes every step)."""

    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        reduction: str = "none",
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.reduction = reduction
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, normalizer=None) -> torch.Tensor:
        return sigmoid_focal_loss(
            inputs,
            targets,
            self.alpha,
            self.gamma,
            self.reduction,
            weight=self.weight,
            ignore_index=self.ignore_index,
            normalizer=normalizer,
            label_smoothing=self.label_smoothing,
        )


class SoftmaxFocalLoss(nn.Module):
    """Softmax focal loss; see :func:`lossext.softmax_focal_loss`."""

    def __init__(
        self,
        alpha=None,
        gamma: float = 2.0,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if isinstance(alpha, torch.Tensor):
            self.register_buffer("alpha", alpha)
        else:
            self.alpha = alpha
        self.gamma = gamma
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return softmax_focal_loss(
            input, target, self.alpha, self.gamma, self.weight, self.ignore_index, self.reduction
        )


class QualityFocalLoss(nn.Module):
    """mmdet's QualityFocalLoss (sigmoid only); see :func:`lossext.quality_focal_loss`."""

    def __init__(self, beta: float = 2.0, reduction: str = "mean", loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * quality_focal_loss(pred, target, weight, self.beta, reduction, avg_factor)


class VarifocalLoss(nn.Module):
    """mmdet's VarifocalLoss (sigmoid only); see :func:`lossext.varifocal_loss`."""

    def __init__(
        self,
        alpha: float = 0.75,
        gamma: float = 2.0,
        iou_weighted: bool = True,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.iou_weighted = iou_weighted
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * varifocal_loss(
            pred, target, weight, self.alpha, self.gamma, self.iou_weighted, reduction, avg_factor
        )
