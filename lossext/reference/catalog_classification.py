"""Classic classification and margin losses from their formulas.

f: score, y: label in {-1, +1} (margin losses) or {0, 1} (log loss), p: probability.
    0-1:               [y != f]  or, with tolerance T, [|y - f| >= T]
    hinge:             max(0, m - y f)          squared hinge: max(0, m - y f)²
    multi-class hinge: max(0, m + max_{c != y} f_c - f_y)   (Crammer-Singer)
    exponential:       exp(-y f)
    log loss / BCE:    -w (y log p + (1-y) log(1-p)), logs clamped at -100 as torch
    nll:               -w_y x_y ; 'mean' divides by Σ w_y over non-ignored targets
    hinge embedding:   x if y = 1, max(0, m - x) if y = -1
    soft margin:       log(1 + exp(-y x))
    multi margin:      Σ_{c != y} w_y max(0, m - x_y + x_c)^p / C
"""

import torch
import torch.nn.functional as F

from lossext.reference._reduce import reduce


def _acc(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def zero_one_loss(input, target, tolerance=None, reduction="mean"):
    wrong = input != target if tolerance is None else (_acc(input) - _acc(target)).abs() >= tolerance
    return reduce(wrong.to(torch.get_default_dtype()), reduction)


def hinge_loss(input, target, margin=1.0, reduction="mean"):
    return reduce((margin - _acc(target) * _acc(input)).clamp_min(0), reduction).to(input.dtype)


def squared_hinge_loss(input, target, margin=1.0, reduction="mean"):
    return reduce((margin - _acc(target) * _acc(input)).clamp_min(0) ** 2, reduction).to(input.dtype)


def multiclass_hinge_loss(input, target, margin=1.0, reduction="mean"):
    x = _acc(input)
    x_y = x.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    others = x.scatter(-1, target.unsqueeze(-1), float("-inf"))
    return reduce((margin + others.amax(-1) - x_y).clamp_min(0), reduction).to(input.dtype)


def exponential_loss(input, target, reduction="mean"):
    return reduce(torch.exp(-_acc(target) * _acc(input)), reduction).to(input.dtype)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    p, y = _acc(input), _acc(target)
    loss = -(y * p.log().clamp_min(-100) + (1 - y) * (1 - p).log().clamp_min(-100))
    if weight is not None:
        loss = loss * _acc(weight)
    return reduce(loss, reduction).to(input.dtype)


def log_loss(input, target, reduction="mean"):
    return binary_cross_entropy(input, target, None, reduction)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    x = _acc(input)
    class_dim = 0 if x.dim() == 1 else 1
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    x_y = x.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    w = torch.ones(x.shape[class_dim], dtype=x.dtype, device=x.device) if weight is None else _acc(weight)
    w_y = torch.where(valid, w[safe], torch.zeros((), dtype=x.dtype, device=x.device))
    if reduction != "mean":
        return reduce(-w_y * x_y, reduction).to(input.dtype)
    # Every target ignored: torch returns nan (0/0) with a zero gradient, where
    # a plain division would also make the gradient nan.
    total_weight = w_y.sum()
    empty = total_weight == 0
    divisor = torch.where(empty, torch.ones_like(total_weight), total_weight)
    nan_if_empty = torch.where(
        empty, torch.full_like(total_weight, float("nan")), torch.zeros_like(total_weight)
    )
    return ((-w_y * x_y).sum() / divisor + nan_if_empty.detach()).to(input.dtype)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    x, zero = _acc(input), torch.zeros((), dtype=_acc(input).dtype, device=input.device)
    # torch's formula: a label other than +1 takes the margin term, other than -1 the x term.
    loss = torch.where(target != 1, (margin - x).clamp_min(0), zero) + torch.where(target != -1, x, zero)
    return reduce(loss, reduction).to(input.dtype)


def soft_margin_loss(input, target, reduction="mean"):
    return reduce(F.softplus(-_acc(target) * _acc(input)), reduction).to(input.dtype)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    x = _acc(input)
    # (N, C) rows whatever torch's accepted layout ((), (C,), (N, C)); 'none' has target's shape.
    out_shape = target.shape
    x = x.reshape(x.shape[0] if x.dim() == 2 else 1, -1)
    target = target.reshape(-1)
    x_y = x.gather(1, target.unsqueeze(1))
    z = (margin - x_y + x).clamp_min(0) ** p
    z = z.scatter(1, target.unsqueeze(1), 0.0)
    if weight is not None:
        z = z * _acc(weight)[target].unsqueeze(1)
    loss = (z.sum(1) / x.shape[1]).reshape(out_shape)
    return reduce(loss, reduction).to(input.dtype)
