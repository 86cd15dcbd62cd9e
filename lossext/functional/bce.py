"""Sigmoid cross-entropy losses on one fused elementwise kernel: binary
cross-entropy with logits (torch's semantics), and mmdet's quality focal
(GFL) and varifocal losses. Forward reads logits and targets once and writes
the loss (per element, or one sum per row when the result is reduced);
backward reads them once more and writes the logits' gradient (and BCE's
target gradient). Nothing gradient-sized is kept in between."""

import numbers

import torch

from lossext import _ext, reference
from lossext._errors import ArgumentError
from lossext._ops.bce import BCE, QUALITY_FOCAL, VARIFOCAL
from lossext._validate import check_number, check_reduction, check_same_device, check_tensor
from lossext.functional._dtype import result_dtype
from lossext.functional.focal import _check_normalizer


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
        raise ArgumentError(f"{name} of shape {tuple(f.shape)} does not broadcast to the input's shape {tuple(shape)}")


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
            raise ArgumentError(f"avg_factor must be a number or a one-element tensor, got {tuple(avg_factor.shape)}")
    elif not isinstance(avg_factor, numbers.Real) or isinstance(avg_factor, bool):
        raise TypeError(f"avg_factor must be a number or a one-element tensor, got {type(avg_factor).__name__}")


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
        if label.is_floating_point() or label.dtype == torch.bool or label.shape != (n,) or score.shape != (n,):
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
            raise ArgumentError(f"weight must have shape ({n},) or ({n}, {classes}), got {tuple(weight.shape)}")
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
