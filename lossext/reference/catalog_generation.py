"""Image-generation losses from their formulas.
Gram matrix:      G = F Fᵀ / (C H W), F the (C, H·W) feature map of one sample
style loss:       mean over layers of MSE(G(x), G(y)), summed over layers
perceptual loss:  Σ over the extractor's outputs of MSE(φ(x), φ(y))
LSGAN (Mao et al. 2017):  D: ½ E[(D(x) - b)²] + ½ E[(D(G(z)) - a)²];  G: ½ E[(D(G(z)) - c)²]
Wasserstein (Arjovsky et al. 2017):  critic: E[D(G(z))] - E[D(x)];  generator: -E[D(G(z))]
"""

import torch

from lossext.reference._reduce import reduce


def _acc(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def gram_matrix(features):
    f = _acc(features)
    unbatched = f.dim() == 3
    if unbatched:
        f = f.unsqueeze(0)
    n, c = f.shape[:2]
    flat = f.reshape(n, c, -1)
    g = flat @ flat.transpose(1, 2) / (c * flat.shape[2])
    return (g.squeeze(0) if unbatched else g).to(features.dtype)


def _as_list(x):
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        return list(x.values())
    return list(x)


def _mse(a, b, reduction):
    return reduce((_acc(a) - _acc(b)) ** 2, reduction)


def style_loss(input, target, reduction="mean"):
    xs, ys = _as_list(input), _as_list(target)
    total = sum(_mse(gram_matrix(x), gram_matrix(y), reduction) for x, y in zip(xs, ys))
    return total.to(xs[0].dtype)


def perceptual_loss(input, target, feature_extractor, reduction="mean"):
    xs, ys = _as_list(feature_extractor(input)), _as_list(feature_extractor(target))
    return sum(_mse(x, y, reduction) for x, y in zip(xs, ys)).to(input.dtype)


def lsgan_discriminator_loss(real_scores, fake_scores, a=0.0, b=1.0, reduction="mean"):
    real = reduce((_acc(real_scores) - b) ** 2, reduction)
    fake = reduce((_acc(fake_scores) - a) ** 2, reduction)
    return (0.5 * (real + fake)).to(real_scores.dtype)


def lsgan_generator_loss(fake_scores, c=1.0, reduction="mean"):
    return (0.5 * reduce((_acc(fake_scores) - c) ** 2, reduction)).to(fake_scores.dtype)


def wasserstein_critic_loss(real_scores, fake_scores, reduction="mean"):
    return (reduce(_acc(fake_scores), reduction) - reduce(_acc(real_scores), reduction)).to(real_scores.dtype)


def wasserstein_generator_loss(fake_scores, reduction="mean"):
    return (-reduce(_acc(fake_scores), reduction)).to(fake_scores.dtype)
