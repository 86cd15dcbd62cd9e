"""Total variation of images (*, H, W) from its formula, per plane (*,):

anisotropic (kornia.losses.total_variation):
    sum |I(i+1, j) - I(i, j)| + sum |I(i, j+1) - I(i, j)|
    'mean': each of the two sums divided by its own count, (H-1) W and
    H (W-1); an empty term is 0.
isotropic, over the (H-1) x (W-1) cells where both differences exist:
    sum (dx^2 + dy^2 + eps)^(beta / 2), 'mean': divided by (H-1)(W-1).
    The gradient of a cell with dx^2 + dy^2 + eps == 0 is 0.
"""

import torch


def _upcast(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) or not x.is_floating_point() else x


def _term(diffs, reduction):
    flat = diffs.flatten(-2)
    if reduction == "mean" and flat.shape[-1] > 0:
        return flat.mean(-1)
    return flat.sum(-1)


def total_variation_loss(img, reduction="sum", isotropic=False, beta=1.0, eps=0.0):
    x = _upcast(img)
    if not isotropic:
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs()
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs()
        out = _term(dy, reduction) + _term(dx, reduction)
    else:
        corner = x[..., :-1, :-1]
        dx = x[..., :-1, 1:] - corner
        dy = x[..., 1:, :-1] - corner
        s = dx * dx + dy * dy + eps
        flat = s == 0
        # pow's derivative at 0 is inf (beta < 2) times 0: keep flat cells out of it.
        value = torch.where(flat, torch.zeros_like(s), torch.where(flat, torch.ones_like(s), s) ** (beta / 2))
        out = _term(value, reduction)
    return out.to(img.dtype) if img.is_floating_point() else out
