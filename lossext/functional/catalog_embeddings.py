"""Embedding and ranking losses. Pure PyTorch (the reference) behind the public API."""

from lossext import reference
from lossext.functional._catalog_common import (
    check_broadcast,
    check_floating,
    check_nonnegative,
    check_reduction,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_values,
)
from lossext._errors import ArgumentError


def _check_embeddings(reduction, **tensors):
    check_reduction(reduction)
    (first_name, first), *rest = tensors.items()
    check_floating(first, first_name)
    if first.dim() not in (1, 2):
        raise ArgumentError(f"{first_name} must have shape (D,) or (N, D), got {tuple(first.shape)}")
    for name, x in rest:
        check_floating(x, name)
        check_same_device(x, name, first, first_name)
        check_same_shape(x, name, first, first_name)


def _check_pair_target(target, input1, name="target"):
    check_tensor(target, name)
    check_same_device(target, name, input1, "input1")
    expected = tuple(input1.shape[:-1])
    if tuple(target.shape) != expected:
        raise ArgumentError(f"{name} must have shape {expected}, got {tuple(target.shape)}")


def cosine_similarity_loss(input1, input2, dim=-1, eps=1e-8, reduction="mean"):
    """1 - cos(input1, input2) along ``dim``, norms clamped at eps as
    ``torch.nn.functional.cosine_similarity``. Reference (pure PyTorch)."""
    check_reduction(reduction)
    check_floating(input1, "input1")
    check_floating(input2, "input2")
    check_same_device(input2, "input2", input1, "input1")
    check_same_shape(input2, "input2", input1, "input1")
    if input1.dim() == 0:
        raise ArgumentError("input1 must have at least one dimension")
    check_nonnegative(eps, "eps")
    return reference.cosine_similarity_loss(input1, input2, dim, eps, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """As ``torch.nn.functional.cosine_embedding_loss``: 1 - cos where y = 1,
    max(0, cos - margin) where y = -1 and 0 for any other label (as torch,
    labels are not checked); margin in [-1, 1]; input1 and input2 broadcast.
    Reference implementation (pure PyTorch)."""
    shape = check_broadcast(reduction, same_dim=True, input1=input1, input2=input2)
    if len(shape) not in (1, 2):
        raise ArgumentError(f"input1 must have shape (D,) or (N, D), got {tuple(input1.shape)}")
    check_tensor(target, "target")
    check_same_device(target, "target", input1, "input1")
    if tuple(target.shape) != tuple(shape[:-1]):
        raise ArgumentError(f"target must have shape {tuple(shape[:-1])}, got {tuple(target.shape)}")
    if not -1 <= margin <= 1:
        raise ArgumentError(f"margin must be in [-1, 1], got {margin}")
    return reference.cosine_embedding_loss(input1, input2, target, margin, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction="mean"):
    """As ``torch.nn.functional.triplet_margin_loss``: max(0, d(a, p) - d(a, n) + margin)
    with d(u, v) = ||u - v + eps||_p; ``swap`` uses min(d(a, n), d(p, n)) (Balntas et al.).
    margin must be > 0, as in torch. Reference implementation (pure PyTorch)."""
    shape = check_broadcast(reduction, same_dim=True, anchor=anchor, positive=positive, negative=negative)
    if len(shape) not in (1, 2):
        raise ArgumentError(f"anchor must have shape (D,) or (N, D), got {tuple(anchor.shape)}")
    if not margin > 0:
        raise ArgumentError(f"margin must be > 0, got {margin}")
    if not p > 0:
        raise ArgumentError(f"p must be > 0, got {p}")
    return reference.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction)


def contrastive_loss(input1, input2, target, margin=1.0, eps=1e-6, reduction="mean"):
    """Contrastive loss of Hadsell, Chopra and LeCun (2006):
    y d²/2 + (1 - y) max(0, margin - d)²/2 with d = ||input1 - input2 + eps||_2.
    Label convention: y = 1 marks a SIMILAR pair (pulled together), y = 0 a
    dissimilar one (pushed beyond the margin); labels must be 0 or 1
    (validated). margin >= 0. Reference implementation (pure PyTorch)."""
    _check_embeddings(reduction, input1=input1, input2=input2)
    _check_pair_target(target, input1)
    check_nonnegative(margin, "margin")
    check_values(
        (target == 0) | (target == 1), ArgumentError, "target must hold labels in {0, 1} (1 = similar)"
    )
    return reference.contrastive_loss(input1, input2, target, margin, eps, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """As ``torch.nn.functional.margin_ranking_loss``: max(0, -y (x1 - x2) + margin),
    y = 1 when input1 should rank higher, -1 otherwise (as in torch, not checked);
    shapes broadcast, with one number of dimensions, as torch's.
    Reference implementation (pure PyTorch)."""
    check_broadcast(reduction, same_dim=True, input1=input1, input2=input2, target=target)
    return reference.margin_ranking_loss(input1, input2, target, margin, reduction)
