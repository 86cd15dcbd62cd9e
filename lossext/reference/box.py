"""The box IoU family written out from the formulas, in torchvision's
conventions (see csrc/kernels/box.h for the full definitions):

    aligned:  iou = inter / (union + eps)            (inter only where both sides > 0)
              giou loss = 1 - iou + (C - union) / (C + eps)
              diou loss = 1 - iou + rho^2 / (cw^2 + ch^2 + eps)
              ciou loss = diou loss + alpha v,  v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2,
                          alpha = v / (1 - iou + v + eps) without gradient
              eiou loss = diou loss + dw^2 / (cw^2 + eps) + dh^2 / (ch^2 + eps)
              siou loss = 1 - iou + (distance cost + shape cost) / 2
    pairwise: torchvision's box_iou, generalized_box_iou, distance_box_iou,
              complete_box_iou (no eps in the IoU, overlap clamped at 0).

atan(w/h) is taken as +-pi/2 at h = 0 (gradient: its limit) and 0 at w = h = 0
(gradient 0); torchvision gives nan for both.
"""

import math

import torch

from lossext.reference._reduce import reduce
from lossext._cpp import BoxFmt, BoxLossMode, names
from lossext._errors import ArgumentError

FMTS = names(BoxFmt)  # ("xyxy", "xywh", "cxcywh")
LOSS_MODES = names(BoxLossMode)  # ("iou", "giou", "diou", "ciou", "eiou", "siou")


def to_xyxy(boxes: torch.Tensor, fmt: str) -> torch.Tensor:
    a, b, c, d = boxes.unbind(-1)
    if fmt == "xywh":
        return torch.stack([a, b, a + c, b + d], -1)
    if fmt == "cxcywh":
        return torch.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], -1)
    return boxes


def _compute_dtype(*boxes):
    return torch.float64 if any(b.dtype == torch.float64 for b in boxes) else torch.float32


def _aspect_angle(w, h):
    """atan(w / h), continuous in h through h = 0 (+-pi/2 there) and 0 at w = h = 0."""
    point = (w == 0) & (h == 0)
    # atan2's gradient is 0/0 at the origin: keep it out of the graph there.
    w_safe = torch.where(point, torch.ones_like(w), w)
    h_safe = torch.where(point, torch.ones_like(h), h)
    # atan(w/h) = atan2(w, h) for h >= 0, shifted by pi for h < 0.
    # The +-1 and 0 are exact in any dtype; pi is multiplied in w's dtype (a
    # Python pi inside torch.where would become a float32 tensor).
    turns = torch.where(h < 0, torch.where(w < 0, 1.0, -1.0), 0.0).to(w.dtype)
    angle = torch.atan2(w_safe, h_safe) + turns * math.pi
    return torch.where(point, torch.zeros_like(angle), angle)


def _aspect_term(w1, h1, w2, h2):
    return 4 / math.pi**2 * (_aspect_angle(w2, h2) - _aspect_angle(w1, h1)) ** 2


def box_pair_loss(boxes1, boxes2, mode="giou", eps=1e-7, fmt="xyxy"):
    """Per-pair loss of aligned boxes [..., 4] (no reduction), float32 or float64."""
    t = _compute_dtype(boxes1, boxes2)
    p = to_xyxy(boxes1.to(t), fmt)
    q = to_xyxy(boxes2.to(t), fmt)
    x1, y1, x2, y2 = p.unbind(-1)
    X1, Y1, X2, Y2 = q.unbind(-1)
    w1, h1, w2, h2 = x2 - x1, y2 - y1, X2 - X1, Y2 - Y1

    iw = torch.minimum(x2, X2) - torch.maximum(x1, X1)
    ih = torch.minimum(y2, Y2) - torch.maximum(y1, Y1)
    overlap = (iw > 0) & (ih > 0)
    inter = torch.where(overlap, iw * ih, torch.zeros_like(iw))
    union = w1 * h1 + w2 * h2 - inter
    iou = inter / (union + eps)
    loss = 1 - iou
    if mode == "iou":
        return loss

    cw = torch.maximum(x2, X2) - torch.minimum(x1, X1)
    ch = torch.maximum(y2, Y2) - torch.minimum(y1, Y1)
    if mode == "giou":
        area_c = cw * ch
        return loss + (area_c - union) / (area_c + eps)

    sx = (X1 + X2 - x1 - x2) / 2
    sy = (Y1 + Y2 - y1 - y2) / 2
    if mode == "siou":
        # Angle cost sin(2 arcsin(min(|sx|,|sy|)/sigma)) = 2|sx||sy| / sigma^2.
        angle = 2 * sx.abs() * sy.abs() / (sx**2 + sy**2 + eps)
        gamma = 2 - angle
        distance = (1 - torch.exp(-gamma * sx**2 / (cw**2 + eps))) + (
            1 - torch.exp(-gamma * sy**2 / (ch**2 + eps))
        )
        omega_w = (w1 - w2).abs() / (torch.maximum(w1.abs(), w2.abs()) + eps)
        omega_h = (h1 - h2).abs() / (torch.maximum(h1.abs(), h2.abs()) + eps)
        shape = (1 - torch.exp(-omega_w)) ** 4 + (1 - torch.exp(-omega_h)) ** 4
        return loss + (distance + shape) / 2

    loss = loss + (sx**2 + sy**2) / (cw**2 + ch**2 + eps)
    if mode == "diou":
        return loss
    if mode == "ciou":
        v = _aspect_term(w1, h1, w2, h2)
        with torch.no_grad():
            alpha = v / (1 - iou + v + eps)
        return loss + alpha * v
    if mode == "eiou":
        return loss + (w1 - w2) ** 2 / (cw**2 + eps) + (h1 - h2) ** 2 / (ch**2 + eps)
    raise ArgumentError(f"mode must be one of {LOSS_MODES}, got {mode!r}")


def _reduce_boxes(loss, reduction):
    if reduction == "mean" and loss.numel() == 0:
        # torchvision: 0 with a gradient (connected to the inputs), not nan.
        return 0.0 * loss.sum()
    return reduce(loss, reduction)


def box_iou_loss(boxes1, boxes2, mode="giou", reduction="none", eps=1e-7, fmt="xyxy"):
    return _reduce_boxes(box_pair_loss(boxes1, boxes2, mode, eps, fmt), reduction)


def generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7, fmt="xyxy"):
    return box_iou_loss(boxes1, boxes2, "giou", reduction, eps, fmt)


def distance_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7, fmt="xyxy"):
    return box_iou_loss(boxes1, boxes2, "diou", reduction, eps, fmt)


def complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7, fmt="xyxy"):
    return box_iou_loss(boxes1, boxes2, "ciou", reduction, eps, fmt)


def _pairwise(boxes1, boxes2, kind, eps, fmt):
    t = _compute_dtype(boxes1, boxes2)
    p = to_xyxy(boxes1.to(t), fmt).unsqueeze(-2)  # [..., N, 1, 4]
    q = to_xyxy(boxes2.to(t), fmt).unsqueeze(-3)  # [..., 1, M, 4]
    area_p = (p[..., 2] - p[..., 0]) * (p[..., 3] - p[..., 1])
    area_q = (q[..., 2] - q[..., 0]) * (q[..., 3] - q[..., 1])
    lt = torch.maximum(p[..., :2], q[..., :2])
    rb = torch.minimum(p[..., 2:], q[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_p + area_q - inter
    iou = inter / union
    if kind == "iou":
        return iou
    wh_c = (torch.maximum(p[..., 2:], q[..., 2:]) - torch.minimum(p[..., :2], q[..., :2])).clamp(min=0)
    if kind == "giou":
        area_c = wh_c[..., 0] * wh_c[..., 1]
        return iou - (area_c - union) / area_c
    diag = wh_c[..., 0] ** 2 + wh_c[..., 1] ** 2 + eps
    centre_p = (p[..., :2] + p[..., 2:]) / 2
    centre_q = (q[..., :2] + q[..., 2:]) / 2
    diou = iou - ((centre_p - centre_q) ** 2).sum(-1) / diag
    if kind == "diou":
        return diou
    v = _aspect_term(
        q[..., 2] - q[..., 0], q[..., 3] - q[..., 1], p[..., 2] - p[..., 0], p[..., 3] - p[..., 1]
    )
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


def box_iou(boxes1, boxes2, fmt="xyxy"):
    return _pairwise(boxes1, boxes2, "iou", 0.0, fmt)


def generalized_box_iou(boxes1, boxes2, fmt="xyxy"):
    return _pairwise(boxes1, boxes2, "giou", 0.0, fmt)


def distance_box_iou(boxes1, boxes2, eps=1e-7, fmt="xyxy"):
    return _pairwise(boxes1, boxes2, "diou", eps, fmt)


def complete_box_iou(boxes1, boxes2, eps=1e-7, fmt="xyxy"):
    return _pairwise(boxes1, boxes2, "ciou", eps, fmt)
