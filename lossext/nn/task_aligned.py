from __future__ import annotations

import torch
from torch import nn

from lossext import functional as F
from lossext._errors import ArgumentError


class TaskAlignedAssigner(nn.Module):
    """ultralytics' ``TaskAlignedAssigner`` (same constructor and forward), on
    the fused kernel; see :func:`lossext.task_aligned_assign`. ``stride``
    gives the smallest box side of the inside test as ultralytics does
    (``stride[1]``, or ``stride[0]`` for one stride); ``topk2`` other than
    ``topk`` is not supported. ``num_classes`` must be pd_scores' C."""

    def __init__(
        self,
        topk: int = 13,
        num_classes: int = 80,
        alpha: float = 1.0,
        beta: float = 6.0,
        stride: list | None = None,
        eps: float = 1e-9,
        topk2: int | None = None,
        iou: str = "ciou",
    ) -> None:
        super().__init__()
        if topk2 is not None and topk2 != topk:
            raise ArgumentError(f"topk2 other than topk is not supported, got topk={topk}, topk2={topk2}")
        self.topk = topk
        self.num_classes = num_classes
        self.alpha = alpha
        self.beta = beta
        self.stride = list(stride) if stride is not None else [8, 16, 32]
        if not self.stride:
            raise ArgumentError("stride must hold at least one stride")
        self.stride_val = self.stride[1] if len(self.stride) > 1 else self.stride[0]
        self.eps = eps
        self.iou = iou

    def forward(self, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt):
        if (
            isinstance(pd_scores, torch.Tensor)
            and pd_scores.dim() == 3
            and pd_scores.shape[-1] != self.num_classes
        ):
            raise ArgumentError(
                f"pd_scores has {pd_scores.shape[-1]} classes but the assigner num_classes={self.num_classes}"
            )
        return F.task_aligned_assign(
            pd_scores,
            pd_bboxes,
            anc_points,
            gt_labels,
            gt_bboxes,
            mask_gt,
            self.topk,
            self.alpha,
            self.beta,
            self.eps,
            self.iou,
            float(self.stride_val),
        )
