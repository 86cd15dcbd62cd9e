"""The detector loss steps of benchmarks/detectors compute what they claim: the lossext
composition gives the framework formulation's loss and gradients, and where the framework
itself is installed (build/peers), its own code gives the same as our re-implementation of it."""

import pytest
import torch

from benchmarks import bench_detector_steps
from benchmarks.detectors import dino, gfl, has, yolo

# YOLO: lossext's CIoU puts eps where torchvision does, ultralytics' on the heights (1e-7 apart);
# lossext's fused assigner computes the target scores in float32 (float64 inputs too).
YOLO_TOL = (1e-5, 1e-7) if has("task_aligned_assign") else (1e-6, 1e-10)
SMALL = {
    yolo: dict(batch=2, imgsz=320, classes=20, max_boxes=12, reg_max=16),
    gfl: dict(batch=2, imgsz=256, classes=20, reg_max=16),
    dino: dict(batch=3, queries=200, classes=91, max_boxes=40),
}


def _loss_and_grads(step, module, inputs):
    loss = step(*inputs)
    return (loss.detach(), *torch.autograd.grad(loss, inputs[: module.GRAD_ARGS]))


def _assert_same(got, expected, rtol, atol, what):
    for g, e, part in zip(got, expected, ("loss", *(f"grad {i}" for i in range(len(expected) - 1)))):
        torch.testing.assert_close(g, e, rtol=rtol, atol=atol, msg=lambda m: f"{what} {part}: {m}")


@pytest.mark.parametrize("module", [yolo, gfl, dino], ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@pytest.mark.parametrize("seed", [0, 1])
def test_lossext_composition_equals_the_framework_formulation(module, seed):
    inputs = module.make_inputs(SMALL[module], "cpu", torch.float64, seed=seed)
    expected = _loss_and_grads(module.framework_step, module, inputs)
    assert torch.isfinite(expected[0]) and expected[0] > 0
    assert all(g.abs().sum() > 0 for g in expected[1:])
    got = _loss_and_grads(module.lossext_step, module, inputs)
    rtol, atol = YOLO_TOL if module is yolo else (1e-9, 1e-10)
    _assert_same(got, expected, rtol, atol, module.__name__)


def test_gfl_without_positives():
    inputs = list(gfl.make_inputs(SMALL[gfl], "cpu", torch.float64, seed=3))
    inputs[4] = torch.full_like(inputs[4], inputs[0].shape[-1])  # every anchor background
    expected = _loss_and_grads(gfl.framework_step, gfl, inputs)
    assert expected[2].abs().sum() == 0  # no box term, no box gradient
    _assert_same(_loss_and_grads(gfl.lossext_step, gfl, inputs), expected, 1e-9, 1e-12, "gfl")


def test_yolo_without_boxes_of_an_image():
    """An image whose rows are all padding has no positives; the batch still trains the others."""
    inputs = list(yolo.make_inputs(SMALL[yolo], "cpu", torch.float64, seed=4))
    inputs[5] = inputs[5].clone()
    inputs[5][0] = 0
    inputs[6] = (inputs[5].sum(2, keepdim=True) > 0).to(inputs[6].dtype)
    fg = yolo.task_aligned_assign(
        inputs[1].detach().sigmoid(),
        yolo.decode(inputs[0].detach(), inputs[2]) * inputs[3],
        inputs[2] * inputs[3],
        *inputs[4:],
    )[3]
    assert not fg[0].any() and fg[1].any()
    expected = _loss_and_grads(yolo.framework_step, yolo, inputs)
    _assert_same(_loss_and_grads(yolo.lossext_step, yolo, inputs), expected, *YOLO_TOL, "yolo")


def test_dino_matching_is_a_permutation_of_the_boxes():
    inputs = dino.make_inputs(SMALL[dino], "cpu", torch.float64, seed=5)
    targets = dino.targets_list(*inputs[2:])
    indices = dino.hungarian_matcher(inputs[0], inputs[1], targets)
    per_image = dino.assign(dino._matching_costs(inputs[0], inputs[1], targets))
    for (src, tgt), (src2, tgt2), t in zip(indices, per_image, targets):
        assert sorted(tgt.tolist()) == list(range(len(t["labels"])))
        assert len(set(src.tolist())) == len(src)
        assert torch.equal(src, src2) and torch.equal(tgt, tgt2)


def test_the_benchmark_times_every_implementation():
    for case in bench_detector_steps.cases(torch.device("cpu"), full=False):
        names = [impl.name for impl in case.impls]
        assert case.baseline in names and "lossext" in names and f"{case.baseline}+compile" in names
        assert case.bytes_floor > 0


# ---- the frameworks' own code ---------------------------------------------------------------------


def _ultralytics_step():
    step = yolo.ultralytics_step()
    if step is None:
        pytest.skip("ultralytics is not installed in build/peers-ultralytics (tools/bootstrap.sh)")
    return step


def test_ultralytics_assigner_equals_ours_on_the_benchmark_inputs():
    _ultralytics_step()
    from benchmarks import peers

    TaskAlignedAssigner = peers.ultralytics_tal().TaskAlignedAssigner

    pred_distri, pred_scores, anchors, strides, labels, boxes, mask = yolo.make_inputs(
        yolo.SIZES["quick"], "cpu", torch.float32
    )
    args = (
        pred_scores.detach().sigmoid(),
        yolo.decode(pred_distri.detach(), anchors) * strides,
        anchors * strides,
        labels,
        boxes,
        mask,
    )
    theirs = TaskAlignedAssigner(
        topk=yolo.TOPK,
        num_classes=pred_scores.shape[-1],
        alpha=yolo.ALPHA,
        beta=yolo.BETA,
        stride=list(yolo.STRIDES),
    )(*args)
    ours = yolo.task_aligned_assign(*args)
    assert ours[3].sum() > 0
    for t, o, what in zip(theirs, ours, ("labels", "boxes", "scores", "fg_mask", "gt_idx")):
        assert t.dtype == o.dtype, what
        assert torch.equal(t, o), what


@pytest.mark.parametrize("size,seed", [("quick", 0), ("small", 7)])
def test_ultralytics_v8_detection_loss_equals_ours(size, seed):
    """On the quick benchmark's inputs and on a smaller image."""
    step = _ultralytics_step()
    inputs = yolo.make_inputs(
        yolo.SIZES["quick"] if size == "quick" else SMALL[yolo], "cpu", torch.float32, seed=seed
    )
    expected = _loss_and_grads(yolo.framework_step, yolo, inputs)
    # Its targets go through normalised xywh and back (float32 rounding) and its three terms are
    # stored in a float32 buffer; everything else is the same arithmetic.
    _assert_same(_loss_and_grads(step, yolo, inputs), expected, 1e-5, 1e-7, "ultralytics")
