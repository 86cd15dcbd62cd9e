"""lossext.nn.DiceCELoss: MONAI's ``DiceCELoss``, with its constructor arguments,
defaults and values.

MONAI's Dice term is 1 - (2 TP + smooth_nr) / (P + T + smooth_dr) per (sample,
class) (per class with batch=True), over the activated input (sigmoid, softmax,
other_act or none) against a one-hot target (to_onehot_y builds it from a
(B, 1, ...) index map); its cross-entropy term sees the raw logits (binary
cross-entropy with logits for a single channel). The common configuration,
softmax with to_onehot_y and smooth_nr == smooth_dr, runs the fused
:func:`lossext.dice_ce_loss` (one softmax pass for both terms); every other one
runs the same formula with torch ops.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lossext import functional as F
from lossext._errors import ArgumentError


class DiceCELoss(nn.Module):
    """``monai.losses.DiceCELoss`` (same arguments, defaults and values):
    ``lambda_dice * Dice + lambda_ce * CE``. ``input`` (B, C, ...) logits;
    ``target`` (B, 1, ...) class indices or (B, C, ...) one-hot."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable | None = None,
        squared_pred: bool = False,
        jaccard: bool = False,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        weight: torch.Tensor | None = None,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ArgumentError(
                f"reduction must be 'mean' or 'sum' (Dice needs a reduction), got {reduction!r}"
            )
        if int(sigmoid) + int(softmax) + int(other_act is not None) > 1:
            raise ArgumentError("sigmoid, softmax and other_act are mutually exclusive")
        if other_act is not None and not callable(other_act):
            raise TypeError(f"other_act must be callable, got {type(other_act).__name__}")
        for name, value in (("lambda_dice", lambda_dice), ("lambda_ce", lambda_ce)):
            if value < 0:
                raise ArgumentError(f"{name} must be >= 0, got {value}")
        self.include_background, self.to_onehot_y = include_background, to_onehot_y
        self.sigmoid, self.softmax, self.other_act = sigmoid, softmax, other_act
        self.squared_pred, self.jaccard, self.reduction = squared_pred, jaccard, reduction
        self.smooth_nr, self.smooth_dr, self.batch = float(smooth_nr), float(smooth_dr), batch
        self.lambda_dice, self.lambda_ce, self.label_smoothing = lambda_dice, lambda_ce, label_smoothing
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if input.dim() != target.dim():
            raise ArgumentError(
                f"target must have as many dimensions as input {tuple(input.shape)} ((B, 1, ...) "
                f"indices or (B, C, ...) one-hot), got {tuple(target.shape)}"
            )
        c = input.shape[1]
        if target.shape[1] not in (1, c):
            raise ArgumentError(f"target must have 1 or C = {c} channels, got shape {tuple(target.shape)}")
        if self._fused(input, target):
            return self._fused_loss(input, target)
        return self.lambda_dice * self._dice(input, target) + self.lambda_ce * self._ce(input, target)

    def _fused(self, input, target):
        return (
            self.softmax
            and self.to_onehot_y
            and input.shape[1] > 1
            and target.shape[1] == 1
            and not self.jaccard
            and self.reduction == "mean"
            and self.smooth_nr == self.smooth_dr
            and not target.is_floating_point()
            and target.dtype != torch.bool
        )

    def _fused_loss(self, input, target):
        c = input.shape[1]
        weight = None if self.weight is None else self.weight.to(input.device)
        # MONAI's (2 TP + s) / (P + T + s) is lossext's (TP + s/2) / ((P + T) / 2 + s/2).
        return F.dice_ce_loss(
            input,
            target[:, 0],
            None if self.include_background else list(range(1, c)),
            smooth=self.smooth_nr / 2,
            lambda_dice=self.lambda_dice,
            lambda_ce=self.lambda_ce,
            label_smoothing=self.label_smoothing,
            weight=weight,
            per_image=not self.batch,
            squared_pred=self.squared_pred,
            empty_classes="count",
        )

    def _dice(self, input, target):
        c = input.shape[1]
        if self.sigmoid:
            pred = torch.sigmoid(input)
        elif self.softmax and c > 1:
            pred = torch.softmax(input, 1)
        elif self.other_act is not None:
            pred = self.other_act(input)
        else:
            pred = input
        truth = target
        if self.to_onehot_y and c > 1:
            truth = torch.nn.functional.one_hot(target[:, 0].long(), c).movedim(-1, 1)
        truth = truth.to(pred.dtype)
        weight = self.weight
        if not self.include_background and c > 1:
            pred, truth = pred[:, 1:], truth[:, 1:]
            weight = None if weight is None else weight[1:]
        dims = [0, *range(2, pred.dim())] if self.batch else list(range(2, pred.dim()))
        tp = (pred * truth).sum(dims)
        sizes = (
            (pred * pred).sum(dims) + (truth * truth).sum(dims)
            if self.squared_pred
            else pred.sum(dims) + truth.sum(dims)
        )
        if self.jaccard:
            sizes = 2.0 * (sizes - tp)
        loss = 1.0 - (2.0 * tp + self.smooth_nr) / (sizes + self.smooth_dr)
        if weight is not None and truth.shape[1] != 1:
            loss = loss * weight.to(loss)
        return loss.mean() if self.reduction == "mean" else loss.sum()

    def _ce(self, input, target):
        weight = None if self.weight is None else self.weight.to(input)
        if input.shape[1] == 1:  # one channel: binary cross-entropy with logits, weight as pos_weight
            return torch.nn.functional.binary_cross_entropy_with_logits(
                input, target.to(input.dtype), pos_weight=weight, reduction=self.reduction
            )
        if target.shape[1] == 1:
            target = target[:, 0].long()
        elif not target.is_floating_point():
            target = target.to(input.dtype)
        return F.cross_entropy(
            input, target, weight, reduction=self.reduction, label_smoothing=self.label_smoothing
        )
