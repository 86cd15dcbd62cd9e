"""Regression losses from their formulas, d = input - target:
mse d², l1 |d|, rmse sqrt(reduce(d²) + eps), sum of squares Σ d², log-cosh log cosh d."""

import math

import torch
import torch.nn.functional as F

from lossext.reference._reduce import reduce


def _acc(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def mse_loss(input, target, reduction="mean"):
    return reduce((_acc(input) - _acc(target)) ** 2, reduction).to(input.dtype)


def l1_loss(input, target, reduction="mean"):
    return reduce((_acc(input) - _acc(target)).abs(), reduction).to(input.dtype)


mae_loss = l1_loss


def rmse_loss(input, target, reduction="mean", eps=0.0):
    squared = (_acc(input) - _acc(target)) ** 2
    return (reduce(squared, reduction) + eps).sqrt().to(input.dtype)


def sum_of_squares_loss(input, target, reduction="sum"):
    return mse_loss(input, target, reduction)


def log_cosh_loss(input, target, reduction="mean"):
    d = (_acc(input) - _acc(target)).abs()
    # log cosh d = |d| + log(1 + e^{-2|d|}) - log 2, finite for any d.
    return reduce(d + F.softplus(-2 * d) - math.log(2.0), reduction).to(input.dtype)
