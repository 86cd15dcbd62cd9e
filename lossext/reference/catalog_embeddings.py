"""Embedding and ranking losses from their formulas.
cosine similarity:  1 - cos(a, b)
cosine embedding:   1 - cos if y = 1, max(0, cos - m) if y = -1  (torch's cos: eps 1e-12 on |a|², |b|²)
triplet margin:     max(0, d(a, p) - d(a, n) + m), d(u, v) = ||u - v + eps||_p; swap: d(a, n) <- min(d(a, n), d(p, n))
contrastive:        y d²/2 + (1 - y) max(0, m - d)²/2, y = 1 similar (Hadsell et al. 2006), d = ||a - b + eps||_2
margin ranking:     max(0, -y (x1 - x2) + m)
"""

import torch

from lossext.reference._reduce import reduce


def _acc(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _distance(u, v, p, eps):
    return (u - v + eps).norm(p=p, dim=-1)


def cosine_similarity_loss(input1, input2, dim=-1, eps=1e-8, reduction="mean"):
    a, b = _acc(input1), _acc(input2)
    cos = (a * b).sum(dim) / (a.norm(dim=dim).clamp_min(eps) * b.norm(dim=dim).clamp_min(eps))
    return reduce(1 - cos, reduction).to(input1.dtype)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    a, b = _acc(input1), _acc(input2)
    d = a.dim() - 1
    cos = (a * b).sum(d) / ((a * a).sum(d) + 1e-12).mul((b * b).sum(d) + 1e-12).sqrt()
    zero = torch.zeros_like(cos)
    loss = torch.where(target == 1, 1 - cos, zero) + torch.where(
        target == -1, (cos - margin).clamp_min(0), zero
    )
    return reduce(loss, reduction).to(input1.dtype)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction="mean"):
    a, pos, neg = _acc(anchor), _acc(positive), _acc(negative)
    d_pos = _distance(a, pos, p, eps)
    d_neg = _distance(a, neg, p, eps)
    if swap:
        d_neg = torch.minimum(d_neg, _distance(pos, neg, p, eps))
    return reduce((d_pos - d_neg + margin).clamp_min(0), reduction).to(anchor.dtype)


def contrastive_loss(input1, input2, target, margin=1.0, eps=1e-6, reduction="mean"):
    d = _distance(_acc(input1), _acc(input2), 2, eps)
    y = _acc(target)
    loss = 0.5 * y * d**2 + 0.5 * (1 - y) * (margin - d).clamp_min(0) ** 2
    return reduce(loss, reduction).to(input1.dtype)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    loss = (-_acc(target) * (_acc(input1) - _acc(input2)) + margin).clamp_min(0)
    return reduce(loss, reduction).to(input1.dtype)
