"""Entropy and soft-label cross-entropy (KL and JS are in divergence.py)."""

from lossext import reference
from lossext.functional._catalog_common import check_floating, check_reduction
from lossext._errors import ArgumentError


def entropy(input, dim=-1, reduction="mean", from_logits=True):
    """Shannon entropy H(p) = -Σ p log p along ``dim`` (nats), reduced over the
    remaining dims. ``from_logits=True`` (default): p = softmax(input), computed
    from log_softmax; False: input holds probabilities, with 0 log 0 = 0.
    Minimizing it sharpens predictions; maximize it (or subtract it) as an
    exploration / confidence-penalty bonus. Reference implementation (pure PyTorch)."""
    check_floating(input, "input")
    check_reduction(reduction)
    if input.dim() == 0:
        raise ArgumentError("input must have at least one dimension")
    if not -input.dim() <= dim < input.dim():
        raise ArgumentError(f"dim {dim} is out of range for input of {input.dim()} dims")
    return reference.entropy(input, dim, reduction, from_logits)


def soft_cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    """Cross-entropy against soft labels -Σ_c t_c log softmax(x)_c over the
    class dim (dim 1, or 0 for a 1-D input), as
    ``torch.nn.functional.cross_entropy`` with a probability target of input's
    shape. Runs the fused cross-entropy kernel (lossext.cross_entropy)."""
    from lossext.losses.cross_entropy import cross_entropy

    check_floating(target, "target")
    return cross_entropy(input, target, reduction=reduction, label_smoothing=label_smoothing)
