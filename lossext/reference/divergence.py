"""KL and generalized Jensen-Shannon divergence, written out from the formulas.

    kl_div (input = log q):  t log t - t x    (log_target: e^t (t - x)); 0 where t == 0
    js_div (input = log q, target = P):  b KL(P || M) + (1-b) KL(Q || M),  M = b P + (1-b) Q

Reductions: 'sum', 'mean' (over every element), 'batchmean' (sum / input.size(0)),
'none' (per element).
"""

import torch

from lossext.reference._reduce import reduce


def _acc(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _divergence_reduce(loss, reduction, input):
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.dim() > 0 else 1)
    return reduce(loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    x, t = _acc(input), _acc(target)
    if log_target:
        loss = t.exp() * (t - x)
    else:
        loss = torch.xlogy(t, t) - t * x
    return _divergence_reduce(loss, reduction, input).to(input.dtype)


def _plogratio(a, log_a, log_m):
    """a (log a - log m), 0 where a == 0."""
    return a * torch.where(a == 0, torch.zeros_like(a), log_a - log_m)


def js_div(input, target, beta=0.5, reduction="batchmean", log_target=True):
    x, t = _acc(input), _acc(target)
    q = x.exp()
    p = t.exp() if log_target else t
    log_p = t if log_target else t.log()
    log_m = torch.log(beta * p + (1 - beta) * q)
    loss = beta * _plogratio(p, log_p, log_m) + (1 - beta) * _plogratio(q, x, log_m)
    return _divergence_reduce(loss, reduction, input).to(input.dtype)
