import torch

from lossext._ops._spec import OpSpec


def _fake(
    pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt, topk, alpha, beta, eps, overlap, min_side
):
    batch, anchors, classes = pd_scores.shape
    return (
        pd_scores.new_empty((batch, anchors), dtype=torch.long),
        pd_scores.new_empty((batch, anchors, 4), dtype=gt_bboxes.dtype),
        pd_scores.new_empty((batch, anchors, classes)),
        pd_scores.new_empty((batch, anchors), dtype=torch.bool),
        pd_scores.new_empty((batch, anchors), dtype=torch.long),
    )


def _inputs(device, boxes=3, dtype=torch.float32, seed=0):
    """Two images, a 6 x 6 grid of anchor points (stride 4), 5 classes; the
    last box of image 1 is padding."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.arange(6, dtype=torch.float32) * 4 + 2
    anc = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    centre = torch.rand(2, boxes, 2, generator=g) * 24
    half = torch.rand(2, boxes, 2, generator=g) * 6 + 2
    gt = torch.cat([centre - half, centre + half], -1)
    pc = anc + torch.randn(2, 36, 2, generator=g)
    ph = torch.rand(2, 36, 2, generator=g) * 5 + 2
    pd = torch.cat([pc - ph, pc + ph], -1)
    labels = torch.randint(0, 5, (2, boxes), generator=g)
    mask = torch.ones(2, boxes, dtype=torch.bool)
    if boxes:
        mask[1, -1] = False
    scores = torch.rand(2, 36, 5, generator=g).to(dtype)
    return tuple(t.to(device) for t in (scores, pd, anc, labels, gt, mask))


def _samples(device):
    return [
        (*_inputs(device), 4, 1.0, 6.0, 1e-9, 0, 8.0),
        (*_inputs(device, dtype=torch.float16, seed=1), 20, 0.5, 2.0, 1e-9, 1, 0.0),
        (*_inputs(device, boxes=0), 4, 1.0, 6.0, 1e-9, 0, 8.0),
    ]


def _public(device):
    from lossext import functional

    def assign(*args):
        return functional.task_aligned_assign(*args, topk=4, min_box_side=8.0)

    return assign, _inputs(device)


SPECS = (OpSpec("task_aligned_assign", _fake, _samples, public=_public),)
