"""Image-generation losses: Gram matrix, style, perceptual, LSGAN and
Wasserstein GAN losses. Pure PyTorch (the reference) behind the public API."""

import torch

from lossext import reference
from lossext.functional._catalog_common import check_floating, check_reduction, check_same_device
from lossext._errors import ArgumentError


def gram_matrix(features):
    """G = F Fᵀ / (C·H·W) for features (N, C, H, W) -> (N, C, C), or (C, H, W)
    -> (C, C); any number of spatial dims (N, C, *) works the same way."""
    check_floating(features, "features")
    if features.dim() < 3:
        raise ArgumentError(
            f"features must have shape (C, H, W) or (N, C, H, W), got {tuple(features.shape)}"
        )
    return reference.gram_matrix(features)


def _feature_list(x, name):
    xs = [x] if isinstance(x, torch.Tensor) else list(x.values()) if isinstance(x, dict) else list(x)
    if not xs:
        raise ArgumentError(f"{name} holds no feature maps")
    for f in xs:
        check_floating(f, name)
    return xs


def style_loss(input, target, reduction="mean"):
    """Style loss (Gatys et al.): MSE(G(x), G(y)) between Gram matrices, summed
    over layers when input and target are sequences (or dicts) of feature maps.
    Reference implementation (pure PyTorch)."""
    check_reduction(reduction)
    xs, ys = _feature_list(input, "input"), _feature_list(target, "target")
    if len(xs) != len(ys):
        raise ArgumentError(f"input has {len(xs)} feature maps but target has {len(ys)}")
    for x, y in zip(xs, ys):
        check_same_device(y, "target", x, "input")
        if x.shape[-3] != y.shape[-3] or x.dim() != y.dim():
            raise ArgumentError(
                f"feature maps of input {tuple(x.shape)} and target {tuple(y.shape)} differ in "
                "channels or rank"
            )
        if x.dim() < 3:
            raise ArgumentError(
                f"feature maps must have shape (C, H, W) or (N, C, H, W), got {tuple(x.shape)}"
            )
    return reference.style_loss(input, target, reduction)


def perceptual_loss(input, target, feature_extractor, reduction="mean"):
    """Perceptual (feature) loss: MSE between ``feature_extractor(input)`` and
    ``feature_extractor(target)``, summed over its outputs when it returns a
    tuple, list or dict of tensors. Any ``nn.Module`` (or callable) works; no
    weights are downloaded (pass e.g. a truncated pretrained VGG yourself, in
    eval mode). Gradients reach input (and target, if it requires grad) and the
    extractor's parameters unless they are frozen. Reference (pure PyTorch)."""
    check_floating(input, "input")
    check_floating(target, "target")
    check_reduction(reduction)
    check_same_device(target, "target", input, "input")
    if not callable(feature_extractor):
        raise TypeError(
            f"feature_extractor must be an nn.Module or callable, got {type(feature_extractor).__name__}"
        )
    return reference.perceptual_loss(input, target, feature_extractor, reduction)


def _check_scores(reduction, **scores):
    if reduction not in ("mean", "sum"):
        raise ArgumentError(f"Invalid reduction {reduction!r}: expected 'mean' or 'sum'")
    first = None
    for name, s in scores.items():
        check_floating(s, name)
        if first is not None:
            check_same_device(s, name, first[1], first[0])
        first = first or (name, s)


def lsgan_discriminator_loss(real_scores, fake_scores, a=0.0, b=1.0, reduction="mean"):
    """Least-squares GAN discriminator loss (Mao et al. 2017):
    ½ E[(D(x) - b)²] + ½ E[(D(G(z)) - a)²], with a the label of fake data and b
    that of real data (defaults 0 and 1). reduction 'mean' (E) or 'sum'.
    Reference implementation (pure PyTorch)."""
    _check_scores(reduction, real_scores=real_scores, fake_scores=fake_scores)
    return reference.lsgan_discriminator_loss(real_scores, fake_scores, a, b, reduction)


def lsgan_generator_loss(fake_scores, c=1.0, reduction="mean"):
    """Least-squares GAN generator loss ½ E[(D(G(z)) - c)²], c the value the
    generator wants D to give fake data (default 1). Reference (pure PyTorch)."""
    _check_scores(reduction, fake_scores=fake_scores)
    return reference.lsgan_generator_loss(fake_scores, c, reduction)


def wasserstein_critic_loss(real_scores, fake_scores, reduction="mean"):
    """WGAN critic loss E[D(G(z))] - E[D(x)] (minimized by the critic). The
    Lipschitz constraint (weight clipping or a gradient penalty) is the
    caller's. Reference implementation (pure PyTorch)."""
    _check_scores(reduction, real_scores=real_scores, fake_scores=fake_scores)
    return reference.wasserstein_critic_loss(real_scores, fake_scores, reduction)


def wasserstein_generator_loss(fake_scores, reduction="mean"):
    """WGAN generator loss -E[D(G(z))]. Reference implementation (pure PyTorch)."""
    _check_scores(reduction, fake_scores=fake_scores)
    return reference.wasserstein_generator_loss(fake_scores, reduction)
