import torch

from lossext._ops._common import accumulate_dtype
from lossext._ops._spec import OpSpec


def _fake(
    logits, boxes, target_labels, target_boxes, target_mask, class_cost, alpha, gamma, w_class, w_bbox, w_giou
):
    b, q, _ = logits.shape
    return logits.new_empty((b, q, target_labels.shape[1]), dtype=accumulate_dtype(logits.dtype))


def _inputs(device, b=2, q=5, c=7, g=4):
    logits = torch.randn(b, q, c, device=device)
    boxes = torch.rand(b, q, 4, device=device) * 0.5 + 0.1
    labels = torch.randint(0, c, (b, g), device=device)
    tboxes = torch.rand(b, g, 4, device=device) * 0.5 + 0.1
    mask = torch.arange(g, device=device) < torch.tensor([g, g - 2], device=device).reshape(-1, 1)
    return logits, boxes, labels, tboxes, mask


def _samples(device):
    args = _inputs(device)
    return [(*args, kind, 0.25, 2.0, 2.0, 5.0, 2.0) for kind in (0, 1)]


def _public(device):
    from lossext import functional

    def step(logits, boxes, labels, tboxes, mask):
        return functional.detr_matching_cost(
            logits, boxes, labels, tboxes, mask, class_cost="softmax", w_bbox=5.0
        )

    return step, _inputs(device)


SPECS = (OpSpec("detr_matching_cost", _fake, _samples, public=_public),)
