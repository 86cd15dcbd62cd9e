"""The benchmark steps compute what they claim: every implementation of a
benchmarked step gives the same loss and gradients (small sizes, eager; the
compiled variants wrap the same functions)."""

import importlib
import pathlib
import subprocess
import sys

import pytest
import torch

from benchmarks import bench_detection


def _loss_and_grads(step, inputs):
    logits, boxes = inputs[0], inputs[1]
    loss = step(*inputs)
    return (loss.detach(), *torch.autograd.grad(loss, [logits, boxes]))


@pytest.mark.parametrize("images,anchors,classes", [(2, 600, 7), (1, 50, 3)])
def test_detection_steps_agree(images, anchors, classes):
    inputs = bench_detection.make_inputs(
        images, anchors, classes, "cpu", torch.float64, seed=images + anchors
    )
    labels = inputs[2]
    assert (labels >= 0).any() or anchors < 100  # the larger case has positives
    expected = _loss_and_grads(bench_detection.reference_step, inputs)
    assert torch.isfinite(expected[0])
    steps = {"lossext": bench_detection.lossext_step}
    if bench_detection.torchvision_step is not None:
        steps["torchvision"] = bench_detection.torchvision_step
    for name, step in steps.items():
        got = _loss_and_grads(step, inputs)
        for g, e, what in zip(got, expected, ("loss", "grad logits", "grad boxes")):
            torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-10, msg=f"{name}: {what}")


def test_detection_step_matches_formula():
    """The reference step against the formula written out by hand."""
    logits, boxes, labels, matched = bench_detection.make_inputs(1, 400, 4, "cpu", torch.float64, seed=3)
    valid = labels != -100
    positive = labels >= 0
    t = torch.nn.functional.one_hot(labels.clamp(min=0), 4).to(logits.dtype) * positive.unsqueeze(-1)
    p = logits.sigmoid()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    focal = (0.25 * t + 0.75 * (1 - t)) * (1 - p_t) ** 2 * bce
    n = positive.sum().clamp(min=1).double()
    b1, b2 = boxes[positive], matched[positive]
    lt, rb = torch.max(b1[:, :2], b2[:, :2]), torch.min(b1[:, 2:], b2[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    union = area(b1) + area(b2) - inter
    enclose = (torch.max(b1[:, 2:], b2[:, 2:]) - torch.min(b1[:, :2], b2[:, :2])).prod(-1)
    giou = inter / union - (enclose - union) / enclose
    expected = focal[valid].sum() / n + (1 - giou).sum() / n
    torch.testing.assert_close(
        bench_detection.lossext_step(logits, boxes, labels, matched), expected, rtol=1e-7, atol=1e-9
    )


def test_a_run_writes_the_published_results_only_when_asked():
    from benchmarks import run

    scratch = run.output_dir(run.parse_args([]))
    assert scratch == run.SCRATCH_DIR and scratch != run.PUBLISHED_DIR
    assert (
        subprocess.run(["git", "check-ignore", "-q", str(scratch / "cpu.json")], cwd=run.ROOT).returncode == 0
    )
    assert run.output_dir(run.parse_args(["--full"])) == run.SCRATCH_DIR
    assert run.output_dir(run.parse_args(["--save"])) == run.PUBLISHED_DIR
    assert run.output_dir(run.parse_args(["--out", "/tmp/x"])) == pathlib.Path("/tmp/x")


def test_peers_come_from_their_own_folder_not_the_environment():
    """The peers are loaded from build/peers (filled by tools/bootstrap.sh with
    --no-deps --target), which only the tests and benchmarks put on sys.path."""
    from benchmarks import peers

    if not peers.PEERS_DIR.is_dir():
        pytest.skip(f"{peers.PEERS_DIR} not installed (tools/bootstrap.sh)")
    assert str(peers.PEERS_DIR) in sys.path
    for name in ("monai", "kornia"):
        module = importlib.import_module(name)
        assert pathlib.Path(module.__file__).is_relative_to(peers.PEERS_DIR), (name, module.__file__)
    assert peers.smp_losses() is not None
