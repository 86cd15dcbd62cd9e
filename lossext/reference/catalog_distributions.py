"""Entropy and soft-label cross-entropy from their formulas.
entropy:             H(p) = -Σ_c p_c log p_c   (0 log 0 = 0)
soft cross-entropy:  -Σ_c t_c log softmax(x)_c over dim 1
"""

import torch

from lossext.reference._reduce import reduce


def _acc(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def entropy(input, dim=-1, reduction="mean", from_logits=True):
    x = _acc(input)
    if from_logits:
        log_p = x.log_softmax(dim)
        h = -(log_p.exp() * log_p).sum(dim)
    else:
        h = -torch.xlogy(x, x).sum(dim)
    return reduce(h, reduction).to(input.dtype)


def soft_cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    x = _acc(input)
    class_dim = 0 if x.dim() == 1 else 1
    t = _acc(target)
    if label_smoothing > 0:
        t = t * (1 - label_smoothing) + label_smoothing / x.shape[class_dim]
    return reduce(-(t * x.log_softmax(class_dim)).sum(class_dim), reduction).to(input.dtype)
