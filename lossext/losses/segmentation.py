"""Dice, Jaccard (IoU), Tversky and Dice + cross-entropy for segmentation,
with segmentation_models_pytorch's arguments and MONAI's extras.

One fused pass over the logits computes softmax (multiclass) or sigmoid
(binary, multilabel) per pixel and accumulates, per (sample, class), the
three sums every overlap score is made of: TP = sum p t, P = sum p and
T = sum t (class-index targets are read as indices, never expanded to one-hot).
The score, the empty-class rule, weights and the reduction are torch ops on
those (N, C) sums; their autograd feeds one fused backward pass that
recomputes the probabilities and writes the gradient of the logits.

Conventions (where smp and MONAI differ, the default is smp's):
- Empty classes, ``empty_classes``: a class absent from the target (T = 0
  over the pooled batch, or over the sample with ``per_image``) has its loss
  multiplied by 0 and still counts in the mean ('mask', smp); 'count' keeps
  the formula's value for it (MONAI): 1 - smooth / (P/2 + smooth) for Dice, i.e. about 1
  if anything was predicted there and 0 only if nothing was (with smooth > 0).
- Tversky ``alpha`` weighs false positives and ``beta`` false negatives; the
  focal power ``gamma`` is applied to the reduced loss (smp's
  ``loss.mean() ** gamma``), and element-wise for reduction='none'.
- ``weight`` (C,) multiplies each class's loss before the reduction; 'mean'
  divides by the number of (class [, sample]) entries, not by the weights
  (MONAI's convention).
- ``per_image``: the score is computed per (sample, class) and averaged over
  both, instead of pooling the batch (smp pools; MONAI's ``batch=False``).
- ``squared_pred`` (Dice, Jaccard): P = sum p^2 and T = sum t^2 (MONAI).

Determinism: on the CPU the pixels are split into fixed chunks whose partial
sums are added in chunk order (in double), so results are bitwise identical
for any thread count. On CUDA the sums are two-stage (per-block partials,
then one fixed-order pass), with no atomics: also bitwise reproducible.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from lossext import _ext, reference
from lossext._cpp import SegActivation
from lossext._errors import ArgumentError
from lossext._ops._common import accumulate_dtype
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
)
from lossext.losses._dtype import result_dtype
from lossext.losses._mean import mean_or_nan
from lossext.losses.cross_entropy import cross_entropy
from lossext.reference import segmentation as reference_segmentation


# The ops: fake kernels, samples and autograd (registered by lossext._ops from SPECS).
#
# The forward op returns per-(sample, class) sums (N, 3, C) and per-sample
# extras (N, 2); the loss is built from them with torch ops, so autograd hands
# the backward op dL/dsums, from which it recomputes the probabilities and
# writes the gradient of the logits in one pass. Nothing the size of the logits
# is kept between forward and backward.


def _per_sample_sum(v):
    return v.sum(tuple(range(1, v.dim()))) if v.dim() > 1 else v


def _stats_torch(input, target, activation, ignore_index, squared, with_ce, label_smoothing):
    """The op's outputs in torch ops, stats (N, 3, C) and extras (N, 2)
    flattened side by side into one (N, 3 C + 2) tensor (for torch_vjp).
    ignore_index: None or the target value to skip."""
    x = input.to(accumulate_dtype(input.dtype))
    multiclass = not target.is_floating_point()
    tp, sp, st = reference_segmentation.overlap_sums(
        x,
        target,
        "multiclass" if multiclass else "multilabel",
        activation != SegActivation.Identity,
        ignore_index,
        squared,
        True,
    )
    n = x.shape[0]
    extras = x.new_zeros((n, 2))
    if with_ce:
        if ignore_index is None:
            valid = torch.ones_like(target, dtype=torch.bool)
        else:
            valid = target != ignore_index
        safe = torch.where(valid, target, torch.zeros_like(target))
        ce = F.cross_entropy(x, safe, reduction="none", label_smoothing=label_smoothing)
        ce = torch.where(valid, ce, torch.zeros((), dtype=x.dtype, device=x.device))
        extras = torch.stack([_per_sample_sum(ce), _per_sample_sum(valid.to(x.dtype))], 1)
    return torch.cat([torch.stack([tp, sp, st], 1).flatten(1), extras], 1)


def _fwd_fake(input, target, activation, ignore_index, squared, with_ce, label_smoothing):
    acc = accumulate_dtype(input.dtype)
    stats = input.new_empty((input.shape[0], 3, input.shape[1]), dtype=acc)
    extras = input.new_empty((input.shape[0], 2), dtype=acc)
    return stats, extras


def _bwd_fake(
    grad_stats,
    grad_extras,
    input,
    target,
    activation,
    ignore_index,
    squared,
    with_ce,
    label_smoothing,
):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _setup(ctx, inputs, output):
    input, target, *options = inputs
    ctx.save_for_backward(input, target)
    ctx.options = options


def _backward(ctx, grad_stats, grad_extras):
    input, target = ctx.saved_tensors
    acc = accumulate_dtype(input.dtype)
    n, c = input.shape[0], input.shape[1]
    if grad_stats is None:
        grad_stats = input.new_zeros((n, 3, c), dtype=acc)
    if grad_extras is None:
        grad_extras = input.new_zeros((n, 2), dtype=acc)
    if building_graph():
        (grad_input,) = torch_vjp(
            lambda x: _stats_torch(x, target, *ctx.options),
            (input,),
            ctx.needs_input_grad[:1],
            torch.cat([grad_stats.flatten(1), grad_extras], 1),
        )
        return grad_input, None, None, None, None, None, None
    grad_input = torch.ops.lossext.seg_stats_bwd(grad_stats, grad_extras, input, target, *ctx.options)
    return grad_input, None, None, None, None, None, None


def _options(device):
    """(target, activation, with_ce, squared, ignore_index) over index targets
    with an ignored pixel and a binary mask, each activation."""
    y = torch.randint(0, 4, (2, 5, 3), device=device)
    y[0, 0, 0] = 255
    mask = (torch.rand(2, 4, 5, 3, device=device) > 0.5).float()
    return [
        (y, SegActivation.Softmax, True, False, 255),
        (y, SegActivation.Softmax, False, True, 255),
        (y, SegActivation.Identity, False, False, 255),
        (mask, SegActivation.Sigmoid, False, True, 0),
        (mask, SegActivation.Identity, False, False, None),
    ]


def _fwd_samples(device):
    x = torch.randn(2, 4, 5, 3, device=device, requires_grad=True)
    return [
        (x, target, int(act), ignore, squared, ce, 0.1)
        for target, act, ce, squared, ignore in _options(device)
    ]


def _bwd_samples(device):
    x = torch.randn(2, 4, 5, 3, device=device)
    grads = (torch.rand(2, 3, 4, device=device), torch.rand(2, 2, device=device))
    return [
        (*grads, x, target, int(act), ignore, squared, ce, 0.1)
        for target, act, ce, squared, ignore in _options(device)
    ]


def _public(device):
    def step(x, y, mask):
        return (
            dice_loss(x, y, "multiclass", ignore_index=255, classes=[0, 2, 4])
            + tversky_loss(x, mask, "multilabel", alpha=0.3, beta=0.7, gamma=2.0, per_image=True)
            + dice_ce_loss(x, y, ignore_index=255, label_smoothing=0.1)
        )

    x = torch.randn(2, 5, 8, 8, device=device, requires_grad=True)
    y = torch.randint(0, 5, (2, 8, 8), device=device)
    y[0, 0, 0] = 255
    return step, (x, y, (torch.rand(2, 5, 8, 8, device=device) > 0.5).float())


SPECS = (
    OpSpec("seg_stats_fwd", _fwd_fake, _fwd_samples, _backward, _setup, _public),
    OpSpec("seg_stats_bwd", _bwd_fake, _bwd_samples),
)


# The public functions (exported by lossext.functional and lossext).

MODES = ("binary", "multiclass", "multilabel")
EMPTY_RULES = ("mask", "count")

# Widest class count the CUDA kernels take (each thread keeps 3C + 2 sums in
# shared memory); beyond it the reference runs.
_CUDA_MAX_CLASSES = {torch.float64: 120}
_CUDA_MAX_CLASSES_DEFAULT = 240


def _check_number(value, name, low=None, strict=False):
    check_number(value, name, low, strict)


def _check_classes(classes, num_classes, mode):
    if classes is None:
        return None
    if mode == "binary":
        raise ArgumentError("classes cannot be used with mode='binary' (there is one channel)")
    if isinstance(classes, torch.Tensor):
        classes = classes.tolist()
    if isinstance(classes, numbers.Integral):
        classes = [classes]
    classes = list(classes)
    if not classes or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in classes):
        raise TypeError(f"classes must be a non-empty list of class indices, got {classes!r}")
    if any(c < 0 or c >= num_classes for c in classes):
        raise ArgumentError(f"classes must lie in [0, {num_classes}), got {classes}")
    return [int(c) for c in classes]


def _prod(sizes):
    out = 1
    for size in sizes:
        out *= size
    return out


def _reshaped_target(target, shape, also, mode, input):
    """target viewed as `shape`, when it has that shape or one of the `also`
    layouts that smp accepts (it views every target as (N, [C,] -1))."""
    if tuple(target.shape) == shape:
        return target
    if tuple(target.shape) in [tuple(a) for a in also]:
        return target.reshape(shape)
    accepted = " or ".join(str(tuple(a)) for a in [shape, *also])
    raise ArgumentError(
        f"target must have shape {accepted} for input of shape {tuple(input.shape)} in "
        f"mode={mode!r}, got {tuple(target.shape)}"
    )


def _check_args(input, target, mode, classes, smooth, ignore_index, eps, weight, empty_classes, reduction):
    """Validates everything that can be checked without reading tensor values;
    returns (classes as a list or None, target as the kernels want it)."""
    check_floating(input, "input")
    check_tensor(target, "target")
    check_same_device(target, "target", input, "input")
    if mode not in MODES:
        raise ArgumentError(f"mode must be one of {MODES}, got {mode!r}")
    if input.dim() < 2:
        raise ArgumentError(f"input must have shape (N, C, d1, ..., dk), got {tuple(input.shape)}")
    n, c = input.shape[:2]
    if c == 0:
        raise ArgumentError(f"input must have at least one class (channel), got shape {tuple(input.shape)}")
    spatial = tuple(input.shape[2:])
    if mode == "multiclass":
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(
                f"mode='multiclass' takes integer class-index targets of shape (N, d1, ..., dk), got "
                f"{target.dtype} (float masks go with mode='multilabel')"
            )
        # Masks load as uint8 or int32 as often as int64; smp also takes (N, 1, d1, ...) and
        # the flattened (N, d1 * ... * dk). The kernels read int64 (a copy of the target only).
        target = _reshaped_target(target, (n, *spatial), [(n, 1, *spatial), (n, _prod(spatial))], mode, input)
        target = target.long()
    else:
        if target.dtype == torch.bool or not target.is_floating_point():
            target_as = input.dtype  # 0/1 masks of any dtype (bool, uint8, int...) as smp takes them
        else:
            target_as = None
        if mode == "binary":
            if c != 1:
                raise ArgumentError(
                    f"mode='binary' takes input of shape (N, 1, d1, ..., dk), got {tuple(input.shape)}"
                )
            target = _reshaped_target(
                target,
                tuple(input.shape),
                [(n, *spatial), (n, 1, _prod(spatial)), (n, _prod(spatial))],
                mode,
                input,
            )
        else:
            target = _reshaped_target(target, tuple(input.shape), [(n, c, _prod(spatial))], mode, input)
        if target_as is not None:
            target = target.to(target_as)
    classes = _check_classes(classes, c, mode)
    _check_number(smooth, "smooth", 0)
    _check_number(eps, "eps", 0)
    if ignore_index is not None:
        check_int(ignore_index, "ignore_index")
    check_class_weight(weight, "weight", c, input)
    if empty_classes not in EMPTY_RULES:
        raise ArgumentError(f"empty_classes must be one of {EMPTY_RULES}, got {empty_classes!r}")
    check_reduction(reduction)
    return classes, target


def _use_kernel(name, input, target):
    if not _ext.has_kernels(input.device):
        _ext.warn_fallback(name, input.device)
        return False
    if target.requires_grad:
        return False  # soft targets that want a gradient: the reference differentiates them
    if input.device.type == "cuda":
        limit = _CUDA_MAX_CLASSES.get(input.dtype, _CUDA_MAX_CLASSES_DEFAULT)
        if input.shape[1] > limit:
            return False
    return True


def _stats(input, target, mode, from_logits, ignore_index, squared_pred, with_ce=False, label_smoothing=0.0):
    if mode == "multiclass":
        activation = SegActivation.Softmax if from_logits else SegActivation.Identity
    else:
        activation = SegActivation.Sigmoid if from_logits else SegActivation.Identity
    return torch.ops.lossext.seg_stats_fwd(
        input,
        target,
        int(activation),
        None if ignore_index is None else int(ignore_index),
        bool(squared_pred),
        with_ce,
        float(label_smoothing),
    )


def _loss_from_stats(
    kind,
    stats,
    classes,
    log_loss,
    smooth,
    eps,
    weight,
    per_image,
    empty_classes,
    reduction,
    alpha=0.5,
    beta=0.5,
    gamma=1.0,
    class_weights=None,
):
    tp, sp, st = stats.unbind(1)  # each (N, C)
    if not per_image:
        tp, sp, st = tp.sum(0), sp.sum(0), st.sum(0)
    if kind == "dice":
        # Tversky with alpha = beta = 1/2, smoothing included (the catalogue; smp 0.6):
        # (2 TP + 2 s) / (P + T + 2 s), not the older (2 TP + s) / (P + T + s).
        score = (tp + smooth) / ((sp + st) / 2 + smooth).clamp_min(eps)
    elif kind == "jaccard":
        score = (tp + smooth) / (sp + st - tp + smooth).clamp_min(eps)
    else:
        score = (tp + smooth) / (tp + alpha * (sp - tp) + beta * (st - tp) + smooth).clamp_min(eps)
    loss = -torch.log(score.clamp_min(eps)) if log_loss else 1.0 - score
    if empty_classes == "mask":
        loss = loss * (st > 0).to(loss.dtype)
    if weight is not None:
        loss = loss * weight.to(loss.dtype)
    if classes is not None:
        loss = loss[..., classes]
    if class_weights is not None:
        # smp's class_weights: the mean becomes a weighted mean over the classes.
        w = class_weights.to(device=loss.device, dtype=loss.dtype)
        w = w[classes] if classes is not None else w
        loss = loss * w
        if reduction == "mean":
            loss = loss.sum() / (w.sum() * (loss.numel() // max(w.numel(), 1)))
        elif reduction == "sum":
            loss = loss.sum()
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    if gamma != 1.0:
        loss = loss**gamma
    return loss


def _check_class_weights(class_weights, num_classes, mode):
    """smp's class_weights: a list (or 1-D tensor) of C non-negative floats."""
    if class_weights is None:
        return None
    if mode == "binary":
        raise ArgumentError(
            "class_weights cannot be used with mode='binary' (there is one channel), as in smp"
        )
    w = torch.as_tensor(class_weights, dtype=torch.float64)
    if w.dim() != 1 or w.numel() != num_classes:
        raise ArgumentError(
            f"class_weights must hold one weight per class ({num_classes}), got shape {tuple(w.shape)}"
        )
    # The values are checked where that needs no device sync (a list, a CPU tensor).
    if w.device.type == "cpu" and not (
        bool(torch.isfinite(w).all()) and bool((w >= 0).all()) and float(w.sum()) > 0
    ):
        raise ArgumentError(f"class_weights must be finite, non-negative and not all zero, got {w.tolist()}")
    return w


def _overlap(
    kind,
    name,
    input,
    target,
    mode,
    classes,
    log_loss,
    from_logits,
    smooth,
    ignore_index,
    eps,
    weight,
    per_image,
    squared_pred,
    empty_classes,
    reduction,
    alpha=0.5,
    beta=0.5,
    gamma=1.0,
    class_weights=None,
):
    classes, target_k = _check_args(
        input, target, mode, classes, smooth, ignore_index, eps, weight, empty_classes, reduction
    )
    class_weights = _check_class_weights(class_weights, input.shape[1], mode)
    target = target_k
    if not _use_kernel(name, input, target):
        # The reference of the same name takes the same arguments.
        options = (
            dict(alpha=alpha, beta=beta, gamma=gamma)
            if kind == "tversky"
            else dict(squared_pred=squared_pred)
        )
        return getattr(reference, name)(
            input,
            target,
            mode,
            classes,
            log_loss,
            from_logits,
            smooth,
            ignore_index,
            eps,
            class_weights=class_weights,
            weight=weight,
            per_image=per_image,
            empty_classes=empty_classes,
            reduction=reduction,
            **options,
        )
    stats, _ = _stats(input, target_k, mode, from_logits, ignore_index, squared_pred)
    loss = _loss_from_stats(
        kind,
        stats,
        classes,
        log_loss,
        smooth,
        eps,
        weight,
        per_image,
        empty_classes,
        reduction,
        alpha,
        beta,
        gamma,
        class_weights,
    )
    return loss.to(result_dtype(input))


_ARGS_DOC = """
    Args:
        input: (N, C, d1, ..., dk) logits (probabilities with from_logits=False),
            any number of spatial dims, float16/bfloat16/float32/float64.
        target: mode 'multiclass': class indices of any integer dtype (uint8,
            int32, int64, ...), shape (N, d1, ..., dk), (N, 1, d1, ..., dk) or
            (N, d1 * ... * dk); 'binary': a mask (float, bool or integer 0/1) of
            shape (N, 1, d1, ...), (N, d1, ...) or flattened (N, [1,] d1 * ... * dk),
            with C = 1; 'multilabel': a mask of the input's shape or
            (N, C, d1 * ... * dk) (float masks may hold soft values).
        mode: 'binary', 'multiclass' (softmax over C) or 'multilabel' (sigmoid
            per channel).
        classes: optional list of class indices the loss is averaged over (not
            with 'binary'); the others are still computed (the softmax needs them).
        log_loss: loss = -log(max(score, eps)) instead of 1 - score.
        from_logits: apply softmax/sigmoid to input (True) or take it as
            probabilities (False).
        smooth: added to numerator and denominator of the score.
        ignore_index: target value whose pixels (multiclass) or elements
            (binary, multilabel) contribute nothing, to the loss or the gradient.
        eps: lower bound of the denominator (and of the score for log_loss).
        class_weights: smp's per-class weights (a list or 1-D tensor of C
            non-negative floats): 'mean' becomes the weighted mean
            sum(w l) / sum(w) over the (selected) classes; not for 'binary'.
        weight: optional per-class weights (C,) multiplying each class's loss
            (MONAI's convention: 'mean' still divides by the number of entries).
        per_image: score per (sample, class), then averaged, instead of one
            score per class over the pooled batch.
        empty_classes: 'mask' (smp, default) or 'count' (MONAI); see the module
            docstring.
        reduction: 'mean' (default, smp), 'sum', or 'none' (the (C',) or, with
            per_image, (N, C') loss after weights, mask and class selection).

    A class index outside [0, C) that is not ignore_index raises IndexError on
    the CPU; on CUDA it makes the loss nan (no device sync). Returns input's dtype.
"""


def dice_loss(
    input,
    target,
    mode,
    classes=None,
    log_loss=False,
    from_logits=True,
    smooth=0.0,
    ignore_index=None,
    eps=1e-7,
    class_weights=None,
    *,
    weight=None,
    per_image=False,
    squared_pred=False,
    empty_classes="mask",
    reduction="mean",
):
    """Dice loss, 1 - (TP + smooth) / max((P + T) / 2 + smooth, eps) per class
    (Tversky at alpha = beta = 1/2, as the catalogue and smp 0.6 define it); a
    drop-in for ``segmentation_models_pytorch.losses.DiceLoss`` (same positional
    arguments), fused.
    """
    return _overlap(
        "dice",
        "dice_loss",
        input,
        target,
        mode,
        classes,
        log_loss,
        from_logits,
        smooth,
        ignore_index,
        eps,
        weight,
        per_image,
        squared_pred,
        empty_classes,
        reduction,
        class_weights=class_weights,
    )


def jaccard_loss(
    input,
    target,
    mode,
    classes=None,
    log_loss=False,
    from_logits=True,
    smooth=0.0,
    ignore_index=None,
    eps=1e-7,
    class_weights=None,
    *,
    weight=None,
    per_image=False,
    squared_pred=False,
    empty_classes="mask",
    reduction="mean",
):
    """Jaccard (IoU) loss, 1 - (TP + smooth) / max(P + T - TP + smooth, eps) per
    class; smp's ``JaccardLoss`` (same positional arguments as dice_loss).
    """
    return _overlap(
        "jaccard",
        "jaccard_loss",
        input,
        target,
        mode,
        classes,
        log_loss,
        from_logits,
        smooth,
        ignore_index,
        eps,
        weight,
        per_image,
        squared_pred,
        empty_classes,
        reduction,
        class_weights=class_weights,
    )


def tversky_loss(
    input,
    target,
    mode,
    classes=None,
    log_loss=False,
    from_logits=True,
    smooth=0.0,
    ignore_index=None,
    eps=1e-7,
    alpha=0.5,
    beta=0.5,
    gamma=1.0,
    class_weights=None,
    *,
    weight=None,
    per_image=False,
    empty_classes="mask",
    reduction="mean",
):
    """Tversky loss, score (TP + smooth) / max(TP + alpha FP + beta FN + smooth, eps)
    with FP = sum p (1 - t) (weighted by alpha) and FN = sum (1 - p) t (by beta);
    the reduced loss is raised to gamma (focal Tversky, smp's convention).
    alpha = beta = 0.5 is Dice, alpha = beta = 1 is Jaccard.
    smp's ``TverskyLoss`` positional order.
    """
    _check_number(alpha, "alpha", 0)
    _check_number(beta, "beta", 0)
    _check_number(gamma, "gamma", 0, strict=True)
    return _overlap(
        "tversky",
        "tversky_loss",
        input,
        target,
        mode,
        classes,
        log_loss,
        from_logits,
        smooth,
        ignore_index,
        eps,
        weight,
        per_image,
        False,
        empty_classes,
        reduction,
        alpha,
        beta,
        gamma,
        class_weights,
    )


def dice_ce_loss(
    input,
    target,
    classes=None,
    log_loss=False,
    smooth=0.0,
    ignore_index=None,
    eps=1e-7,
    *,
    lambda_dice=1.0,
    lambda_ce=1.0,
    label_smoothing=0.0,
    weight=None,
    per_image=False,
    squared_pred=False,
    empty_classes="mask",
):
    """``lambda_dice * Dice + lambda_ce * CE`` for multiclass segmentation (MONAI's
    DiceCELoss with softmax), from one softmax pass shared by both terms.

    Dice is :func:`dice_loss` in mode 'multiclass' (all its options); CE is
    ``F.cross_entropy(input, target, ignore_index=ignore_index,
    label_smoothing=label_smoothing)`` with reduction 'mean' (over pixels that
    are not ignored; nan when all are). ``weight`` (C,) weighs both terms, as
    MONAI does: the Dice classes, and the cross-entropy as ``F.cross_entropy``'s
    ``weight`` (mean over the summed weights of the valid pixels). Scalar result
    in input's dtype.
    """
    classes, target = _check_args(
        input, target, "multiclass", classes, smooth, ignore_index, eps, weight, empty_classes, "mean"
    )
    _check_number(lambda_dice, "lambda_dice", 0)
    _check_number(lambda_ce, "lambda_ce", 0)
    _check_number(label_smoothing, "label_smoothing", 0)
    if label_smoothing > 1:
        raise ArgumentError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if not _use_kernel("dice_ce_loss", input, target):
        return reference.dice_ce_loss(
            input,
            target,
            classes,
            log_loss,
            smooth,
            ignore_index,
            eps,
            lambda_dice=lambda_dice,
            lambda_ce=lambda_ce,
            label_smoothing=label_smoothing,
            weight=weight,
            per_image=per_image,
            squared_pred=squared_pred,
            empty_classes=empty_classes,
        )
    # The shared pass accumulates the unweighted cross-entropy; a class-weighted
    # one (a weighted mean over pixels) is the fused cross-entropy kernel's job,
    # at the cost of a second read of the logits.
    shared = weight is None
    stats, extras = _stats(
        input, target, "multiclass", True, ignore_index, squared_pred, shared, label_smoothing
    )
    dice = _loss_from_stats(
        "dice", stats, classes, log_loss, smooth, eps, weight, per_image, empty_classes, "mean"
    )
    if shared:
        ce_sum, valid = extras.sum(0).unbind(0)
        ce = mean_or_nan(ce_sum, valid)
    else:
        ce = cross_entropy(
            input,
            target,
            weight.to(input.dtype),
            ignore_index=-100 if ignore_index is None else ignore_index,
            label_smoothing=label_smoothing,
        ).to(dice.dtype)
    loss = lambda_dice * dice + lambda_ce * ce
    return loss.to(result_dtype(input))


for _f in (dice_loss, jaccard_loss, tversky_loss):
    _f.__doc__ += _ARGS_DOC


# The modules (exported by lossext.nn).
#
# nn.Module wrappers of the segmentation losses, with the constructor
# arguments of segmentation_models_pytorch's DiceLoss / JaccardLoss / TverskyLoss
# (same positional order) plus MONAI's extras as keywords.


class _OverlapLoss(nn.Module):
    def __init__(
        self,
        mode,
        classes,
        log_loss,
        from_logits,
        smooth,
        ignore_index,
        eps,
        class_weights,
        weight,
        per_image,
        empty_classes,
        reduction,
    ):
        super().__init__()
        if mode not in MODES:
            raise ArgumentError(f"mode must be one of {MODES}, got {mode!r}")
        # As smp: what mode='binary' cannot take fails at construction, not at the first call.
        if mode == "binary" and classes is not None:
            raise ArgumentError("classes cannot be used with mode='binary' (there is one channel), as in smp")
        if mode == "binary" and class_weights is not None:
            raise ArgumentError(
                "class_weights cannot be used with mode='binary' (there is one channel), as in smp"
            )
        self.mode = mode
        self.classes = None if classes is None else [int(c) for c in classes]
        self.log_loss = log_loss
        self.from_logits = from_logits
        self.smooth = smooth
        self.ignore_index = ignore_index
        self.eps = eps
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.register_buffer("weight", weight)
        self.per_image = per_image
        self.empty_classes = empty_classes
        self.reduction = reduction

    def _common(self):
        return dict(
            class_weights=self.class_weights,
            weight=self.weight,
            per_image=self.per_image,
            empty_classes=self.empty_classes,
            reduction=self.reduction,
        )


class _SquarableOverlapLoss(_OverlapLoss):
    """Dice and Jaccard: the same arguments (smp's positional order), squared_pred."""

    _loss = None  # the functional form, set by each subclass

    def __init__(
        self,
        mode: str,
        classes=None,
        log_loss: bool = False,
        from_logits: bool = True,
        smooth: float = 0.0,
        ignore_index: int | None = None,
        eps: float = 1e-7,
        class_weights=None,
        *,
        weight: torch.Tensor | None = None,
        per_image: bool = False,
        squared_pred: bool = False,
        empty_classes: str = "mask",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            mode,
            classes,
            log_loss,
            from_logits,
            smooth,
            ignore_index,
            eps,
            class_weights,
            weight,
            per_image,
            empty_classes,
            reduction,
        )
        self.squared_pred = squared_pred

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return type(self)._loss(
            y_pred,
            y_true,
            self.mode,
            self.classes,
            self.log_loss,
            self.from_logits,
            self.smooth,
            self.ignore_index,
            self.eps,
            squared_pred=self.squared_pred,
            **self._common(),
        )


class DiceLoss(_SquarableOverlapLoss):
    """See :func:`lossext.dice_loss`."""

    _loss = staticmethod(dice_loss)


class JaccardLoss(_SquarableOverlapLoss):
    """See :func:`lossext.jaccard_loss`."""

    _loss = staticmethod(jaccard_loss)


class TverskyLoss(_OverlapLoss):
    """See :func:`lossext.tversky_loss` (alpha weighs false positives, beta false
    negatives, gamma is the power of the reduced loss)."""

    def __init__(
        self,
        mode: str,
        classes=None,
        log_loss: bool = False,
        from_logits: bool = True,
        smooth: float = 0.0,
        ignore_index: int | None = None,
        eps: float = 1e-7,
        alpha: float = 0.5,
        beta: float = 0.5,
        gamma: float = 1.0,
        class_weights=None,
        *,
        weight: torch.Tensor | None = None,
        per_image: bool = False,
        empty_classes: str = "mask",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            mode,
            classes,
            log_loss,
            from_logits,
            smooth,
            ignore_index,
            eps,
            class_weights,
            weight,
            per_image,
            empty_classes,
            reduction,
        )
        self.alpha, self.beta, self.gamma = alpha, beta, gamma

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return tversky_loss(
            y_pred,
            y_true,
            self.mode,
            self.classes,
            self.log_loss,
            self.from_logits,
            self.smooth,
            self.ignore_index,
            self.eps,
            self.alpha,
            self.beta,
            self.gamma,
            **self._common(),
        )


class DiceCrossEntropyLoss(nn.Module):
    """Dice + cross-entropy for multiclass segmentation with lossext's (smp-style)
    arguments; see :func:`lossext.dice_ce_loss`. MONAI's constructor is
    :class:`lossext.nn.DiceCELoss`."""

    def __init__(
        self,
        classes=None,
        log_loss: bool = False,
        smooth: float = 0.0,
        ignore_index: int | None = None,
        eps: float = 1e-7,
        *,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        label_smoothing: float = 0.0,
        weight: torch.Tensor | None = None,
        per_image: bool = False,
        squared_pred: bool = False,
        empty_classes: str = "mask",
    ) -> None:
        super().__init__()
        self.classes = None if classes is None else [int(c) for c in classes]
        self.log_loss, self.smooth, self.ignore_index, self.eps = log_loss, smooth, ignore_index, eps
        self.lambda_dice, self.lambda_ce, self.label_smoothing = lambda_dice, lambda_ce, label_smoothing
        self.register_buffer("weight", weight)
        self.per_image, self.squared_pred, self.empty_classes = per_image, squared_pred, empty_classes

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dice_ce_loss(
            input,
            target,
            self.classes,
            self.log_loss,
            self.smooth,
            self.ignore_index,
            self.eps,
            lambda_dice=self.lambda_dice,
            lambda_ce=self.lambda_ce,
            label_smoothing=self.label_smoothing,
            weight=self.weight,
            per_image=self.per_image,
            squared_pred=self.squared_pred,
            empty_classes=self.empty_classes,
        )
