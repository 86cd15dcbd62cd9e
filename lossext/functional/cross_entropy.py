import torch

from lossext import _ext, reference
from lossext.functional._dtype import result_dtype
from lossext.functional._mean import class_weight_total
from lossext._validate import (
    check_class_weight,
    check_floating,
    check_int,
    check_number,
    check_range,
    check_reduction,
    check_same_device,
    check_tensor,
)
from lossext._errors import ArgumentError


def _check_args(input, target, weight, reduction, label_smoothing, z_loss, ignore_index):
    check_floating(input, "input")
    check_tensor(target, "target")
    check_reduction(reduction)
    check_int(ignore_index, "ignore_index")
    if input.dim() == 0:
        raise ArgumentError("input must have shape (C,), (N, C) or (N, C, d1, ..., dk), got a 0-d tensor")
    check_range(label_smoothing, "label_smoothing", 0.0, 1.0)
    check_number(z_loss, "z_loss", 0)
    check_same_device(target, "target", input, "input")
    classes = input.shape[0 if input.dim() == 1 else 1]
    check_class_weight(weight, "weight", classes, input)
    if target.is_floating_point():
        if target.shape != input.shape:
            raise ArgumentError(
                f"probability target must have the shape of input {tuple(input.shape)}, got {tuple(target.shape)}"
            )
        return
    if target.dtype == torch.bool:
        raise TypeError("target must hold integer class indices or floating probabilities, got torch.bool")
    expected = tuple(input.shape[:1]) + tuple(input.shape[2:]) if input.dim() > 1 else ()
    if tuple(target.shape) != expected:
        raise ArgumentError(
            f"class-index target must have shape {expected} for input of shape {tuple(input.shape)}, "
            f"got {tuple(target.shape)}"
        )


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
) -> torch.Tensor:
    """Softmax cross-entropy, a drop-in for ``torch.nn.functional.cross_entropy``.

    Args:
        input: logits of shape (C,), (N, C) or (N, C, d1, ..., dk); float16,
            bfloat16, float32 or float64 (half types accumulate in float32).
        target: class indices of shape (), (N,) or (N, d1, ..., dk), of any
            integer dtype (uint8 masks, int32 and int64 labels), or class
            probabilities of input's shape.
        weight: optional per-class weights of shape (C,).
        ignore_index: index target value that contributes neither loss nor
            gradient (index targets only, as in torch).
        reduction: 'none' | 'mean' | 'sum'. 'mean' divides by the summed weight
            of non-ignored targets (index) or by the number of rows (probability).
        label_smoothing: in [0, 1], mixes the target with the uniform distribution.
        z_loss: adds ``z_loss * logsumexp(input)**2`` per (non-ignored) row, the
            auxiliary loss of PaLM; 'mean' divides it by the same denominator.

    Returns the loss in input's dtype. The fused kernel reads the logits once
    in forward and once in backward, keeping only per-row statistics between.
    On CUDA a class index outside [0, C) that is not ``ignore_index`` makes its
    row nan (checking it would need a device sync); on CPU it raises IndexError.
    """
    _check_args(input, target, weight, reduction, label_smoothing, z_loss, ignore_index)
    if not target.is_floating_point() and target.dtype != torch.int64:
        target = target.long()  # uint8 masks, int32 labels: the kernels read int64
    if not _ext.has_kernels(input.device):
        _ext.warn_fallback("cross_entropy", input.device)
        return reference.cross_entropy(
            input, target, weight, ignore_index, reduction, label_smoothing, z_loss
        )

    unbatched = input.dim() == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    label_smoothing, z_loss = float(label_smoothing), float(z_loss)
    if target.is_floating_point():
        loss, _, _ = torch.ops.lossext.cross_entropy_prob_fwd(input, target, weight, label_smoothing, z_loss)
        denominator = loss.numel()
    else:
        loss, _, row_weight = torch.ops.lossext.cross_entropy_index_fwd(
            input, target, weight, int(ignore_index), label_smoothing, z_loss
        )
        denominator = (
            class_weight_total(row_weight, weight, target, ignore_index) if reduction == "mean" else None
        )

    if reduction == "none":
        out = loss.squeeze(0) if unbatched else loss
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = loss.sum() / denominator
    return out.to(result_dtype(input))
