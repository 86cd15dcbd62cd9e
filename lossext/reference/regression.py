"""Smooth L1 and Huber losses from their formulas, d = input - target:

smooth_l1: 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta   (beta = 0: |d|)
huber:     0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta)
"""

import torch

from lossext.reference._reduce import reduce


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    d = input - target
    a = d.abs()
    if beta == 0:
        return reduce(a, reduction)
    return reduce(torch.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    d = input - target
    a = d.abs()
    return reduce(torch.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction)
