"""Softmax cross-entropy, written out from its formula.

    index target y:  (1-e) w_y (lse - x_y) + (e/C) sum_c w_c (lse - x_c) + z lse^2
    prob. target t:  sum_c ((1-e) t_c + e/C) w_c (lse - x_c)             + z lse^2

'mean' divides by the summed target weight of non-ignored rows (index
targets) or by the row count (probability targets), as torch does.
"""

import torch

from lossext.reference._reduce import reduce


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
) -> torch.Tensor:
    class_dim = 0 if input.dim() == 1 else 1
    classes = input.shape[class_dim]
    x = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input
    lse = torch.logsumexp(x, dim=class_dim)
    log_p = x - lse.unsqueeze(class_dim)
    w = torch.ones(classes, dtype=x.dtype, device=x.device) if weight is None else weight.to(x.dtype)
    w_shape = [1] * x.dim()
    w_shape[class_dim] = classes
    w_b = w.view(w_shape)

    if target.is_floating_point():
        t = target.to(x.dtype)
        if label_smoothing > 0:
            t = t * (1 - label_smoothing) + label_smoothing / classes
        loss = -(t * w_b * log_p).sum(class_dim)
        if z_loss:
            loss = loss + z_loss * lse**2
        return reduce(loss, reduction).to(input.dtype)

    valid = target != ignore_index
    safe_target = torch.where(valid, target, torch.zeros_like(target))
    log_p_y = log_p.gather(class_dim, safe_target.unsqueeze(class_dim)).squeeze(class_dim)
    w_y = torch.where(valid, w[safe_target], torch.zeros((), dtype=x.dtype, device=x.device))
    loss = -(1 - label_smoothing) * w_y * log_p_y
    if label_smoothing > 0:
        loss = loss - label_smoothing / classes * (w_b * log_p).sum(class_dim)
    if z_loss:
        loss = loss + z_loss * lse**2
    loss = torch.where(valid, loss, torch.zeros((), dtype=x.dtype, device=x.device))
    return reduce(loss, reduction, w_y.sum()).to(input.dtype)
