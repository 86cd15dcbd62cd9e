"""nn.Module wrappers of the catalogue losses. Each stores its options (the
function's keyword arguments, same names and defaults; positional use works
too) and calls the function of lossext.functional in forward. Names follow
torch.nn where torch has the loss."""

import inspect

import torch
from torch import nn

from lossext import functional as F


def _wrap(name, fn, n_inputs, doc=None):
    params = list(inspect.signature(fn).parameters.values())[n_inputs:]
    option_names = [p.name for p in params]
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *params]
    )

    def __init__(self, *args, **kwargs):
        nn.Module.__init__(self)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for key in option_names:
            value = bound.arguments[key]
            if isinstance(value, torch.Tensor):
                self.register_buffer(key, value)
            else:
                setattr(self, key, value)

    def forward(self, *inputs):
        return fn(*inputs, **{key: getattr(self, key) for key in option_names})

    def extra_repr(self):
        return ", ".join(
            f"{k}={getattr(self, k)!r}" for k in option_names if not isinstance(getattr(self, k), nn.Module)
        )

    __init__.__signature__ = signature
    cls = type(name, (nn.Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr})
    cls.__doc__ = doc or f"Module form of :func:`lossext.{fn.__name__}`; see its documentation."
    cls.__module__ = __name__
    return cls


MSELoss = _wrap("MSELoss", F.mse_loss, 2)
L1Loss = _wrap("L1Loss", F.l1_loss, 2)
MAELoss = L1Loss
RMSELoss = _wrap("RMSELoss", F.rmse_loss, 2)
SumOfSquaresLoss = _wrap("SumOfSquaresLoss", F.sum_of_squares_loss, 2)
LogCoshLoss = _wrap("LogCoshLoss", F.log_cosh_loss, 2)

ZeroOneLoss = _wrap("ZeroOneLoss", F.zero_one_loss, 2)
HingeLoss = _wrap("HingeLoss", F.hinge_loss, 2)
SquaredHingeLoss = _wrap("SquaredHingeLoss", F.squared_hinge_loss, 2)
MultiClassHingeLoss = _wrap("MultiClassHingeLoss", F.multiclass_hinge_loss, 2)
ExponentialLoss = _wrap("ExponentialLoss", F.exponential_loss, 2)
LogLoss = _wrap("LogLoss", F.log_loss, 2)
NLLLoss = _wrap("NLLLoss", F.nll_loss, 2)
BCELoss = _wrap("BCELoss", F.binary_cross_entropy, 2)
HingeEmbeddingLoss = _wrap("HingeEmbeddingLoss", F.hinge_embedding_loss, 2)
SoftMarginLoss = _wrap("SoftMarginLoss", F.soft_margin_loss, 2)
MultiMarginLoss = _wrap("MultiMarginLoss", F.multi_margin_loss, 2)

EntropyLoss = _wrap("EntropyLoss", F.entropy, 1)
# Not SoftCrossEntropyLoss: smp's class of that name is label smoothing of index targets.
SoftTargetCrossEntropyLoss = _wrap("SoftTargetCrossEntropyLoss", F.soft_cross_entropy, 2)

CosineSimilarityLoss = _wrap("CosineSimilarityLoss", F.cosine_similarity_loss, 2)
CosineEmbeddingLoss = _wrap("CosineEmbeddingLoss", F.cosine_embedding_loss, 3)
TripletMarginLoss = _wrap("TripletMarginLoss", F.triplet_margin_loss, 3)
ContrastiveLoss = _wrap("ContrastiveLoss", F.contrastive_loss, 3)
MarginRankingLoss = _wrap("MarginRankingLoss", F.margin_ranking_loss, 3)

GramMatrix = _wrap("GramMatrix", F.gram_matrix, 1)
StyleLoss = _wrap("StyleLoss", F.style_loss, 2)
LSGANDiscriminatorLoss = _wrap("LSGANDiscriminatorLoss", F.lsgan_discriminator_loss, 2)
LSGANGeneratorLoss = _wrap("LSGANGeneratorLoss", F.lsgan_generator_loss, 1)
WassersteinCriticLoss = _wrap("WassersteinCriticLoss", F.wasserstein_critic_loss, 2)
WassersteinGeneratorLoss = _wrap("WassersteinGeneratorLoss", F.wasserstein_generator_loss, 1)


class PerceptualLoss(nn.Module):
    """Module form of :func:`lossext.perceptual_loss`; ``feature_extractor`` is
    registered as a submodule (so .to() and .eval() reach it)."""

    def __init__(self, feature_extractor: nn.Module, reduction: str = "mean") -> None:
        super().__init__()
        self.feature_extractor = feature_extractor
        self.reduction = reduction

    def forward(self, input, target):
        return F.perceptual_loss(input, target, self.feature_extractor, self.reduction)


class StructuralRisk(nn.Module):
    """criterion(input, target) + lam·R(θ) over ``module``'s parameters (see
    :func:`lossext.structural_risk`). ``module`` is held by reference, not
    registered, so the model's parameters are not duplicated in this module's."""

    def __init__(self, criterion, module: nn.Module, lam: float = 1e-4, penalty: str = "l2") -> None:
        super().__init__()
        self.criterion = criterion
        self._module = [module]  # a list hides it from nn.Module registration
        self.lam = lam
        self.penalty = penalty

    def forward(self, input, target):
        return F.structural_risk(self.criterion(input, target), self._module[0], self.lam, self.penalty)


class _ConfusionMetric(nn.Module):
    _metric = None

    def __init__(self, num_classes: int, ignore_index=None, per_class: bool = False) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.per_class = per_class

    def forward(self, input, target):
        confusion = F.confusion_matrix(input, target, self.num_classes, self.ignore_index)
        return type(self)._metric(confusion, self.per_class)


class MeanIoU(_ConfusionMetric):
    """mIoU of predictions (indices or scores) against targets; see :func:`lossext.mean_iou`."""

    _metric = staticmethod(F.mean_iou)


class DiceScore(_ConfusionMetric):
    """Dice of predictions (indices or scores) against targets; see :func:`lossext.dice_score`."""

    _metric = staticmethod(F.dice_score)


__all__ = [
    name
    for name, value in dict(globals()).items()
    if isinstance(value, type)
    and issubclass(value, nn.Module)
    and not name.startswith("_")
    and value.__module__ == __name__
]
