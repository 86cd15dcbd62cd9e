"""Sigmoid cross-entropy losses on one fused elementwise kernel: binary
cross-entropy with logits (torch's semantics), and mmdet's quality focal
(GFL) and varifocal losses. Forward reads logits and targets once and writes
the loss (per element, or one sum per row when the result is reduced);
backward reads them once more and writes the logits' gradient (and BCE's
target gradient). Nothing gradient-sized is kept in between."""

import numbers

import torch
from torch import nn

from lossext import _ext, reference
from lossext._cpp import BceKind
from lossext._errors import ArgumentError
from lossext._ops._spec import OpSpec
from lossext._ops._torch_vjp import building_graph, torch_vjp
from lossext._validate import check_number, check_reduction, check_same_device, check_tensor
from lossext.losses._dtype import result_dtype
from lossext.losses.focal import _check_normalizer
from lossext.reference import bce as ref

BCE, QUALITY_FOCAL, VARIFOCAL = int(BceKind.Bce), int(BceKind.QualityFocal), int(BceKind.Varifocal)


def _acc_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _fwd_fake(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows):
    if reduce_rows:
        return input.new_empty((input.shape[0],), dtype=_acc_dtype(input.dtype))
    return input.new_empty(input.shape)


def _bwd_fake(
    grad_loss,
    input,
    target,
    label,
    weight,
    pos_weight,
    kind,
    alpha,
    exponent,
    iou_weighted,
    reduce_rows,
    target_grad,
):
    shape = input.shape if target_grad else (0, 0)
    return input.new_empty(input.shape), input.new_empty(shape)


def _op_reference(input, target, label, weight, pos_weight, kind, alpha, exponent, iou_weighted, reduce_rows):
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
            lambda x, t, w, pw: _op_reference(x, t, label, w, pw, *ctx.options),
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
        (
            g_elem,
            x,
            t,
            None,
            None,
            torch.rand(5, device=device).expand(9, 5),
            BCE,
            0.75,
            2.0,
            True,
            False,
            True,
        ),
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


def _check_float(x, name):
    """torch's BCE rejects integer tensors with a RuntimeError (the cast of the
    result); ArgumentError is one."""
    check_tensor(x, name)
    if not x.is_floating_point():
        raise ArgumentError(f"{name} must be a floating-point tensor, got {x.dtype}")


def _check_factor(f, name, shape, like):
    """weight / pos_weight: a floating tensor that broadcasts to `shape`
    without enlarging it (torch multiplies the loss by it in place)."""
    if f is None:
        return
    _check_float(f, name)
    check_same_device(f, name, like, "input")
    try:
        fits = torch.broadcast_shapes(f.shape, shape) == shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ArgumentError(
            f"{name} of shape {tuple(f.shape)} does not broadcast to the input's shape {tuple(shape)}"
        )


def _as_rows(f, shape, cols):
    """A factor broadcast to `shape` as (rows, cols): a view with stride 0 on
    the broadcast dimensions when one exists (a (C,) weight, a per-row
    weight), a dense copy otherwise."""
    return None if f is None else f.expand(shape).reshape(-1, cols)


def _check_avg_factor(reduction, avg_factor):
    if avg_factor is None:
        return
    if reduction == "sum":
        raise ArgumentError('avg_factor can not be used with reduction="sum"')
    if isinstance(avg_factor, torch.Tensor):
        if avg_factor.numel() != 1:
            raise ArgumentError(
                f"avg_factor must be a number or a one-element tensor, got {tuple(avg_factor.shape)}"
            )
    elif not isinstance(avg_factor, numbers.Real) or isinstance(avg_factor, bool):
        raise TypeError(
            f"avg_factor must be a number or a one-element tensor, got {type(avg_factor).__name__}"
        )


def _mmdet_reduce(loss_sum, loss, count, reduction, avg_factor):
    """mmdet's weight_reduce_loss on a kernel result: the 'none' loss, or the
    summed one divided by the element count or by avg_factor + eps."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss_sum
    if avg_factor is not None:
        return loss_sum / (avg_factor + torch.finfo(torch.float32).eps)
    return loss_sum / count  # no elements: 0/0 = nan, as torch's mean


def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    pos_weight: torch.Tensor | None = None,
    normalizer=None,
) -> torch.Tensor:
    """``torch.nn.functional.binary_cross_entropy_with_logits``, fused.

    ``loss = w [ (1 - t) softplus(x) + pw t softplus(-x) ]`` per element,
    torch's ``(1 - t) x + (1 + (pw - 1) t) log(1 + exp(-x))`` evaluated without
    overflow: finite for every finite logit.

    Args:
        input: logits of any shape, float16/bfloat16/float32/float64.
        target: same shape (ValueError otherwise, as torch), floating; it gets
            a gradient when it requires one.
        weight: broadcast to input's shape (a (C,) class weight, a per-sample
            (N, 1) weight, ...); a shape that does not broadcast to it raises
            ArgumentError (a RuntimeError, as torch).
        reduction: 'none' | 'mean' (over all elements; weight is not in the
            denominator, as torch) | 'sum'.
        pos_weight: weight of the positive term, broadcast with the target as
            torch does (typically (C,), the last dimension).
        normalizer: float or one-element tensor: the result is
            ``loss.sum() / normalizer`` for 'mean' and 'sum' (``loss /
            normalizer`` for 'none'), as in ``sigmoid_focal_loss``; a tensor is
            never read back to the host.

    weight and pos_weight get gradients when they require them (through the
    reference formulas); second derivatives are exact. Returns the promoted
    dtype of input and target (float32 for 16-bit input under autocast).
    """
    _check_float(input, "input")
    _check_float(target, "target")
    check_same_device(target, "target", input, "input")
    if target.shape != input.shape:
        raise ArgumentError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    check_reduction(reduction)
    _check_factor(weight, "weight", input.shape, input)
    _check_factor(pos_weight, "pos_weight", input.shape, input)
    _check_normalizer(normalizer, input)
    args = (input, target, weight, reduction, pos_weight, normalizer)
    if not _ext.has_kernels(input.device):
        _ext.warn_fallback("binary_cross_entropy_with_logits", input.device)
        return reference.binary_cross_entropy_with_logits(*args)
    if input.numel() == 0:
        return reference.binary_cross_entropy_with_logits(*args)
    dtype = torch.promote_types(input.dtype, target.dtype)
    cols = input.shape[-1] if input.dim() > 0 else 1
    x = input.to(dtype).reshape(-1, cols)
    t = target.to(dtype).reshape(-1, cols)
    w = _as_rows(weight, input.shape, cols)
    pw = _as_rows(pos_weight, input.shape, cols)
    reduce_rows = reduction != "none"
    loss = torch.ops.lossext.bce_fwd(x, t, None, w, pw, BCE, 0.75, 2.0, True, reduce_rows)
    if not reduce_rows:
        out = loss.reshape(input.shape)
        if normalizer is not None:
            out = out / normalizer
    else:
        out = loss.sum()
        if normalizer is not None:
            out = out / normalizer
        elif reduction == "mean":
            out = out / input.numel()
    return out.to(result_dtype(x))


def quality_focal_loss(
    pred, target, weight=None, beta: float = 2.0, reduction: str = "mean", avg_factor=None
) -> torch.Tensor:
    """Quality focal loss (GFL), mmdet's ``quality_focal_loss`` semantics.

    Per element ``BCE(x, t) |t - sigmoid(x)|^beta``, summed over classes to (N,).

    Args:
        pred: (N, C) logits.
        target: ``(label, score)`` as mmdet's ``quality_focal_loss``: label (N,)
            integer with foreground classes in [0, C) and background C (any
            label outside [0, C) is background), score (N,) the IoU quality;
            t is the score at the label's class, 0 elsewhere (never built as a
            matrix). Or a dense soft target (N, C), as mmdet's
            ``quality_focal_loss_tensor_target`` (any dtype: converted to
            pred's, as mmdet's ``type_as``).
        weight: (N,) per sample (mmdet), or (N, C) per element (each class
            weighed before the sum over classes; mmdet has no such form).
        beta: exponent >= 0. The derivative's ``beta |d|^(beta-1)`` term is
            taken as 0 where sigmoid(x) == t exactly (torch's autograd gives
            nan there for beta < 1).
        reduction, avg_factor: mmdet's ``weight_reduce_loss``: 'mean' is the
            mean over the N samples, or ``sum / (avg_factor + eps)`` with
            avg_factor (a number or one-element tensor); avg_factor with 'sum'
            raises ArgumentError.

    The logits get the fused gradient; a dense target or a weight requiring
    grad is differentiated through the reference formulas.
    """
    _check_float(pred, "pred")
    if pred.dim() != 2:
        raise ArgumentError(f"pred must have shape (N, C), got {tuple(pred.shape)}")
    n, classes = pred.shape
    if isinstance(target, torch.Tensor):
        check_same_device(target, "target", pred, "pred")
        if target.shape != pred.shape:
            raise ArgumentError(
                f"a dense target must have the shape of pred {tuple(pred.shape)}, got {tuple(target.shape)}"
            )
        label, score = None, target
    elif isinstance(target, (tuple, list)) and len(target) == 2:
        label, score = target
        check_tensor(label, "label")
        _check_float(score, "score")
        check_same_device(label, "label", pred, "pred")
        check_same_device(score, "score", pred, "pred")
        if (
            label.is_floating_point()
            or label.dtype == torch.bool
            or label.shape != (n,)
            or score.shape != (n,)
        ):
            raise ArgumentError(
                f"label (integer) and score must have shape ({n},), got {tuple(label.shape)} {label.dtype} and "
                f"{tuple(score.shape)}"
            )
    else:
        raise TypeError("target must be a (label, score) tuple or a dense (N, C) tensor")
    check_number(beta, "beta", 0)
    check_reduction(reduction)
    _check_avg_factor(reduction, avg_factor)
    if weight is not None:
        _check_float(weight, "weight")
        check_same_device(weight, "weight", pred, "pred")
        if weight.shape not in ((n,), (n, classes)):
            raise ArgumentError(
                f"weight must have shape ({n},) or ({n}, {classes}), got {tuple(weight.shape)}"
            )
    args = (pred, target, weight, beta, reduction, avg_factor)
    if not _ext.has_kernels(pred.device):
        _ext.warn_fallback("quality_focal_loss", pred.device)
        return reference.quality_focal_loss(*args)
    w = None if weight is None else (weight.unsqueeze(1) if weight.dim() == 1 else weight)
    lab = None if label is None else label.long()
    loss = torch.ops.lossext.bce_fwd(
        pred, score.to(pred.dtype), lab, w, None, QUALITY_FOCAL, 0.75, float(beta), True, True
    )
    out = _mmdet_reduce(loss.sum(), loss, n, reduction, avg_factor)
    return out.to(result_dtype(pred))


def varifocal_loss(
    pred,
    target,
    weight=None,
    alpha: float = 0.75,
    gamma: float = 2.0,
    iou_weighted: bool = True,
    reduction: str = "mean",
    avg_factor=None,
) -> torch.Tensor:
    """Varifocal loss, mmdet's ``varifocal_loss`` semantics.

    ``pred`` (N, C) logits, ``target`` (N, C) IoU-aware scores (0 for
    negatives; any dtype, converted to pred's as mmdet's ``type_as``). Per element ``BCE(x, t)`` times ``t`` (``iou_weighted``) or 1
    where t > 0, and times ``alpha |sigmoid(x) - t|^gamma`` elsewhere; the focal
    weight is not detached (as mmdet), so the gradient flows through it.
    ``weight`` broadcasts to (N, C) (mmdet multiplies the loss by it);
    reduction and ``avg_factor`` as mmdet's ``weight_reduce_loss`` ('mean':
    over the N·C elements, or ``sum / (avg_factor + eps)``).
    """
    _check_float(pred, "pred")
    check_tensor(target, "target")
    check_same_device(target, "target", pred, "pred")
    if pred.dim() != 2 or target.shape != pred.shape:
        raise ArgumentError(
            f"pred and target must have the same shape (N, C), got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    check_number(alpha, "alpha", 0)
    check_number(gamma, "gamma", 0)
    if not isinstance(iou_weighted, bool):
        raise TypeError(f"iou_weighted must be a bool, got {type(iou_weighted).__name__}")
    check_reduction(reduction)
    _check_avg_factor(reduction, avg_factor)
    _check_factor(weight, "weight", pred.shape, pred)
    args = (pred, target, weight, alpha, gamma, iou_weighted, reduction, avg_factor)
    if not _ext.has_kernels(pred.device):
        _ext.warn_fallback("varifocal_loss", pred.device)
        return reference.varifocal_loss(*args)
    reduce_rows = reduction != "none"
    loss = torch.ops.lossext.bce_fwd(
        pred,
        target.to(pred.dtype),
        None,
        weight,
        None,
        VARIFOCAL,
        float(alpha),
        float(gamma),
        iou_weighted,
        reduce_rows,
    )
    out = _mmdet_reduce(loss.sum(), loss, pred.numel(), reduction, avg_factor)
    return out.to(result_dtype(pred))


class BCEWithLogitsLoss(nn.Module):
    """``torch.nn.BCEWithLogitsLoss`` (without the deprecated size_average /
    reduce); see :func:`lossext.binary_cross_entropy_with_logits`.
    ``normalizer`` is a forward argument (it changes every step)."""

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        reduction: str = "mean",
        pos_weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor, normalizer=None) -> torch.Tensor:
        return binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight, normalizer
        )


def _sigmoid_only(use_sigmoid, name):
    if not use_sigmoid:
        raise ArgumentError(f"{name}: only the sigmoid form (use_sigmoid=True) is implemented, as in mmdet")


class QualityFocalLoss(nn.Module):
    """mmdet's ``QualityFocalLoss`` (its constructor; sigmoid, logits only);
    see :func:`lossext.quality_focal_loss`. ``target`` is a (label, score)
    pair or a dense (N, C) soft target, as mmdet's forward dispatches."""

    def __init__(
        self,
        use_sigmoid: bool = True,
        beta: float = 2.0,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        activated: bool = False,
    ) -> None:
        super().__init__()
        _sigmoid_only(use_sigmoid, "QualityFocalLoss")
        if activated:
            raise ArgumentError("QualityFocalLoss: activated=True (probabilities as pred) is not implemented")
        self.use_sigmoid = use_sigmoid
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.activated = activated

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * quality_focal_loss(pred, target, weight, self.beta, reduction, avg_factor)


class VarifocalLoss(nn.Module):
    """mmdet's ``VarifocalLoss`` (its constructor; sigmoid only); see
    :func:`lossext.varifocal_loss`."""

    def __init__(
        self,
        use_sigmoid: bool = True,
        alpha: float = 0.75,
        gamma: float = 2.0,
        iou_weighted: bool = True,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        _sigmoid_only(use_sigmoid, "VarifocalLoss")
        self.use_sigmoid = use_sigmoid
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
