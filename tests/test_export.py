"""torch.export of a small model whose loss is lossext's: for every fused
forward op, the exported graph calls the op itself (not the reference) and the
exported program gives the eager value."""

import pytest
import torch

import lossext


class Head(torch.nn.Module):
    """A linear layer in front of the loss, as in a training step."""

    def __init__(self, loss, features, channel_dim=1):
        super().__init__()
        self.linear = torch.nn.Linear(features, features)
        self.loss, self.channel_dim = loss, channel_dim

    def forward(self, x, target):
        y = self.linear(x.movedim(self.channel_dim, -1)).movedim(-1, self.channel_dim)
        return self.loss(y, target)


def _boxes(n):
    xy = torch.rand(n, 2) * 10
    return torch.cat([xy, xy + 1 + torch.rand(n, 2) * 4], 1)


def _cxcywh(b, q):
    return torch.cat([torch.rand(b, q, 2), 0.1 + 0.3 * torch.rand(b, q, 2)], -1)


def _detr_cost(y, t):
    # y: (2, 6, 4) query features, read as logits over 4 classes and as boxes.
    labels, boxes = t
    return lossext.detr_matching_cost(y, y.sigmoid(), labels, boxes, num_targets=torch.tensor([3, 1])).sum()


def _assign(y, t):
    # y: (2, 9, 3) anchor features read as class scores; boxes and anchors fixed.
    anchors, pd_boxes, gt_labels, gt_boxes, mask_gt = t
    labels, boxes, scores, fg, idx = lossext.task_aligned_assign(
        y.sigmoid(), pd_boxes, anchors, gt_labels, gt_boxes, mask_gt, topk=3, min_box_side=0.0
    )
    return scores.sum() + boxes.sum()


def _assign_inputs():
    grid = (
        torch.stack(torch.meshgrid(torch.arange(3.0), torch.arange(3.0), indexing="xy"), -1).reshape(9, 2)
        + 0.5
    )
    pd_boxes = torch.cat([grid - 0.6, grid + 0.6], -1).expand(2, 9, 4).contiguous()
    gt_boxes = torch.tensor(
        [[[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]], [[0.0, 0.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0]]]
    )
    return (
        r(2, 9, 3),
        (
            grid,
            pd_boxes,
            torch.tensor([[0, 2], [1, 0]]),
            gt_boxes,
            torch.tensor([[True, True], [True, False]]),
        ),
    )


r = torch.randn
CASES = {
    "cross_entropy_index": (
        "cross_entropy_index_fwd",
        lambda y, t: lossext.cross_entropy(y, t, label_smoothing=0.1),
        5,
        lambda: (r(8, 5), torch.randint(0, 5, (8,))),
    ),
    "cross_entropy_prob": (
        "cross_entropy_prob_fwd",
        lambda y, t: lossext.cross_entropy(y, t),
        5,
        lambda: (r(8, 5), r(8, 5).softmax(1)),
    ),
    "sigmoid_focal": (
        "sigmoid_focal_fwd",
        lambda y, t: lossext.sigmoid_focal_loss(y, t, reduction="sum"),
        5,
        lambda: (r(8, 5), torch.randint(-1, 5, (8,))),
    ),
    "softmax_focal": (
        "softmax_focal_fwd",
        lambda y, t: lossext.softmax_focal_loss(y, t, 0.25),
        5,
        lambda: (r(8, 5), torch.randint(0, 5, (8,))),
    ),
    "box_pairwise": (
        "box_pairwise",
        lambda y, t: lossext.generalized_box_iou(y, t).mean(),
        4,
        lambda: (_boxes(6), _boxes(7)),
    ),
    "box_loss": (
        "box_loss_fwd",
        lambda y, t: lossext.complete_box_iou_loss(y, t, reduction="mean"),
        4,
        lambda: (_boxes(6), _boxes(6)),
    ),
    "regression": (
        "regression_fwd",
        lambda y, t: lossext.smooth_l1_loss(y, t, beta=0.5),
        5,
        lambda: (r(8, 5), r(8, 5)),
    ),
    "kl_div": (
        "kl_div_fwd",
        lambda y, t: lossext.kl_div(y.log_softmax(1), t, reduction="batchmean"),
        5,
        lambda: (r(8, 5), r(8, 5).softmax(1)),
    ),
    "js_div": (
        "js_div_fwd",
        lambda y, t: lossext.js_div(y.log_softmax(1), t),
        5,
        lambda: (r(8, 5), r(8, 5).log_softmax(1)),
    ),
    "seg_stats": (
        "seg_stats_fwd",
        lambda y, t: lossext.dice_ce_loss(y, t),
        3,
        lambda: (r(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))),
    ),
    "distribution_focal": (
        "distribution_focal_fwd",
        lambda y, t: lossext.distribution_focal_loss(y, t),
        5,
        lambda: (r(8, 5), torch.rand(8) * 3.9),
    ),
    "detr_matching": (
        "detr_matching_cost",
        _detr_cost,
        4,
        lambda: (r(2, 6, 4), (torch.randint(0, 4, (2, 3)), _cxcywh(2, 3))),
    ),
    "task_aligned": (
        "task_aligned_assign",
        _assign,
        3,
        _assign_inputs,
    ),
    "total_variation": (
        "total_variation_fwd",
        lambda y, t: lossext.total_variation_loss(y).mean() + t.sum(),
        6,
        lambda: (r(2, 3, 6, 6), torch.zeros(())),
    ),
}


def test_every_fused_forward_op_is_exported():
    forward_ops = {
        n.split("::")[1]
        for n in torch._C._dispatch_get_all_op_names()
        if n.startswith("lossext::") and "_bwd" not in n and not n.endswith("_with_grad")
    }
    assert forward_ops == {op for op, *_ in CASES.values()}


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_export_matches_eager(name, grad):
    """no_grad: the inference graph calls the fused forward op; with grad
    enabled (parameters that require grad) the exported program still gives
    the eager value."""
    if not lossext.build_info()["cpu_kernels"]:
        pytest.skip("lossext._C is not built")
    op, loss, features, make = CASES[name]
    inputs = make()
    model = Head(loss, features, channel_dim=1 if name == "seg_stats" else -1)
    with torch.set_grad_enabled(grad):
        program = torch.export.export(model, inputs)
        want = model(*inputs)
    called = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    if not grad:
        assert f"lossext.{op}.default" in called, called
    with torch.set_grad_enabled(grad):
        torch.testing.assert_close(program.module()(*inputs), want)
