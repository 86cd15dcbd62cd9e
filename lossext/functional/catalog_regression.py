"""Regression losses. Pure PyTorch (the reference) behind the public API:
they are single elementwise passes that torch already runs well."""

from lossext import reference
from lossext.functional._catalog_common import check_nonnegative, check_pair


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (x - y)², as ``torch.nn.functional.mse_loss``.
    Unlike torch, input and target must have the same shape (torch warns and
    broadcasts). Reference implementation (pure PyTorch)."""
    check_pair(input, target, reduction)
    return reference.mse_loss(input, target, reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error |x - y|, as ``torch.nn.functional.l1_loss``
    (same shape required). Reference implementation (pure PyTorch)."""
    check_pair(input, target, reduction)
    return reference.l1_loss(input, target, reduction)


mae_loss = l1_loss


def rmse_loss(input, target, reduction="mean", eps=0.0):
    """Root mean squared error sqrt(reduce((x - y)²) + eps): 'mean' gives
    sqrt(MSE), 'sum' the Euclidean norm of the error, 'none' |x - y| per
    element (with eps added under the root). Its gradient is infinite where
    the error is 0; a small ``eps`` (e.g. 1e-12) keeps it finite.
    Reference implementation (pure PyTorch)."""
    check_pair(input, target, reduction)
    check_nonnegative(eps, "eps")
    return reference.rmse_loss(input, target, reduction, eps)


def sum_of_squares_loss(input, target, reduction="sum"):
    """Sum of squared errors Σ (x - y)² (least squares): mse_loss with
    reduction='sum' by default. Reference implementation (pure PyTorch)."""
    check_pair(input, target, reduction)
    return reference.sum_of_squares_loss(input, target, reduction)


def log_cosh_loss(input, target, reduction="mean"):
    """log(cosh(x - y)), computed as |d| + softplus(-2|d|) - log 2 so that it
    never overflows: quadratic near 0, |d| - log 2 far out.
    Reference implementation (pure PyTorch)."""
    check_pair(input, target, reduction)
    return reference.log_cosh_loss(input, target, reduction)
