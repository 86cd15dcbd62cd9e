"""nn.Module wrappers of the segmentation losses, with the constructor
arguments of segmentation_models_pytorch's DiceLoss / JaccardLoss / TverskyLoss
(same positional order) plus MONAI's extras as keywords."""

from __future__ import annotations

import torch
from torch import nn

from lossext import functional as F
from lossext._errors import ArgumentError


class _OverlapLoss(nn.Module):
    def __init__(
        self,
        mode,
        classes,
        log_loss,
        from_logits,
        smooth,
        ignore_index,
        eps,
        class_weights,
        weight,
        per_image,
        empty_classes,
        reduction,
    ):
        super().__init__()
        if mode not in F.segmentation.MODES:
            raise ArgumentError(f"mode must be one of {F.segmentation.MODES}, got {mode!r}")
        # As smp: what mode='binary' cannot take fails at construction, not at the first call.
        if mode == "binary" and classes is not None:
            raise ArgumentError("classes cannot be used with mode='binary' (there is one channel), as in smp")
        if mode == "binary" and class_weights is not None:
            raise ArgumentError(
                "class_weights cannot be used with mode='binary' (there is one channel), as in smp"
            )
        self.mode = mode
        self.classes = None if classes is None else [int(c) for c in classes]
        self.log_loss = log_loss
        self.from_logits = from_logits
        self.smooth = smooth
        self.ignore_index = ignore_index
        self.eps = eps
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.register_buffer("weight", weight)
        self.per_image = per_image
        self.empty_classes = empty_classes
        self.reduction = reduction

    def _common(self):
        return dict(
            class_weights=self.class_weights,
            weight=self.weight,
            per_image=self.per_image,
            empty_classes=self.empty_classes,
            reduction=self.reduction,
        )


class _SquarableOverlapLoss(_OverlapLoss):
    """Dice and Jaccard: the same arguments (smp's positional order), squared_pred."""

    _loss = None  # the functional form, set by each subclass

    def __init__(
        self,
        mode: str,
        classes=None,
        log_loss: bool = False,
        from_logits: bool = True,
        smooth: float = 0.0,
        ignore_index: int | None = None,
        eps: float = 1e-7,
        class_weights=None,
        *,
        weight: torch.Tensor | None = None,
        per_image: bool = False,
        squared_pred: bool = False,
        empty_classes: str = "mask",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            mode,
            classes,
            log_loss,
            from_logits,
            smooth,
            ignore_index,
            eps,
            class_weights,
            weight,
            per_image,
            empty_classes,
            reduction,
        )
        self.squared_pred = squared_pred

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return type(self)._loss(
            y_pred,
            y_true,
            self.mode,
            self.classes,
            self.log_loss,
            self.from_logits,
            self.smooth,
            self.ignore_index,
            self.eps,
            squared_pred=self.squared_pred,
            **self._common(),
        )


class DiceLoss(_SquarableOverlapLoss):
    """See :func:`lossext.dice_loss`."""

    _loss = staticmethod(F.dice_loss)


class JaccardLoss(_SquarableOverlapLoss):
    """See :func:`lossext.jaccard_loss`."""

    _loss = staticmethod(F.jaccard_loss)


class TverskyLoss(_OverlapLoss):
    """See :func:`lossext.tversky_loss` (alpha weighs false positives, beta false
    negatives, gamma is the power of the reduced loss)."""

    def __init__(
        self,
        mode: str,
        classes=None,
        log_loss: bool = False,
        from_logits: bool = True,
        smooth: float = 0.0,
        ignore_index: int | None = None,
        eps: float = 1e-7,
        alpha: float = 0.5,
        beta: float = 0.5,
        gamma: float = 1.0,
        class_weights=None,
        *,
        weight: torch.Tensor | None = None,
        per_image: bool = False,
        empty_classes: str = "mask",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            mode,
            classes,
            log_loss,
            from_logits,
            smooth,
            ignore_index,
            eps,
            class_weights,
            weight,
            per_image,
            empty_classes,
            reduction,
        )
        self.alpha, self.beta, self.gamma = alpha, beta, gamma

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return F.tversky_loss(
            y_pred,
            y_true,
            self.mode,
            self.classes,
            self.log_loss,
            self.from_logits,
            self.smooth,
            self.ignore_index,
            self.eps,
            self.alpha,
            self.beta,
            self.gamma,
            **self._common(),
        )


class DiceCrossEntropyLoss(nn.Module):
    """Dice + cross-entropy for multiclass segmentation with lossext's (smp-style)
    arguments; see :func:`lossext.dice_ce_loss`. MONAI's constructor is
    :class:`lossext.nn.DiceCELoss`."""

    def __init__(
        self,
        classes=None,
        log_loss: bool = False,
        smooth: float = 0.0,
        ignore_index: int | None = None,
        eps: float = 1e-7,
        *,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        label_smoothing: float = 0.0,
        weight: torch.Tensor | None = None,
        per_image: bool = False,
        squared_pred: bool = False,
        empty_classes: str = "mask",
    ) -> None:
        super().__init__()
        self.classes = None if classes is None else [int(c) for c in classes]
        self.log_loss, self.smooth, self.ignore_index, self.eps = log_loss, smooth, ignore_index, eps
        self.lambda_dice, self.lambda_ce, self.label_smoothing = lambda_dice, lambda_ce, label_smoothing
        self.register_buffer("weight", weight)
        self.per_image, self.squared_pred, self.empty_classes = per_image, squared_pred, empty_classes

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.dice_ce_loss(
            input,
            target,
            self.classes,
            self.log_loss,
            self.smooth,
            self.ignore_index,
            self.eps,
            lambda_dice=self.lambda_dice,
            lambda_ce=self.lambda_ce,
            label_smoothing=self.label_smoothing,
            weight=self.weight,
            per_image=self.per_image,
            squared_pred=self.squared_pred,
            empty_classes=self.empty_classes,
        )
