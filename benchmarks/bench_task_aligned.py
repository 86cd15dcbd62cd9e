"""Task-aligned assignment (ultralytics' TaskAlignedAssigner) at the YOLOv8
shape: B = 16 images, A = 8400 anchor points (80 x 80, 40 x 40 and 20 x 20
grids of a 640 x 640 input), C = 80 classes, G ground-truth boxes per image
(padded to the batch's largest count), topk 10 or 13.

Implementations: lossext's fused op; the reference (ultralytics'
formulation: dense (B, G, A) metric, overlap and mask tensors) eager and
torch.compile'd. Inputs are made once outside the timed call.

`python -m benchmarks.bench_task_aligned` prints time and peak memory of
each. On CUDA the peak is the allocator's; on the CPU it comes from
torch.profiler's memory events (harness.cpu_peak_memory_mb), which see
neither an op's internal temporaries nor compiled code: the eager
reference's figure is a lower bound, lossext's misses only its scratch
(docs/task_aligned.md: 1.7 MiB at B = 16, A = 8400, G = 100), and the
compiled reference's is not measured.
"""

from __future__ import annotations

import torch

import lossext
from benchmarks import harness


def anchor_points(device):
    levels = []
    for stride in (8, 16, 32):
        side = 640 // stride
        xs = (torch.arange(side, dtype=torch.float32) + 0.5) * stride
        levels.append(torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2))
    return torch.cat(levels).to(device)


def make_inputs(images, boxes, classes, device, seed=0):
    """Sigmoid scores, predicted boxes about their anchor point, ground-truth
    boxes of sides 8 to 328 (float labels and (B, G, 1) mask as ultralytics'
    loss passes them); image i holds boxes - 3 i real boxes (at least 1)."""
    g = torch.Generator().manual_seed(seed)
    anc = anchor_points("cpu")
    A = anc.shape[0]
    centre = torch.rand(images, boxes, 2, generator=g) * 640
    wh = torch.rand(images, boxes, 2, generator=g) * 320 + 8
    gt = torch.cat([centre - wh / 2, centre + wh / 2], -1)
    real = torch.arange(boxes)[None] < (boxes - 3 * torch.arange(images)[:, None]).clamp(min=1)
    mask = real[..., None].float()
    labels = torch.randint(0, classes, (images, boxes, 1), generator=g).float() * mask
    pwh = torch.rand(images, A, 2, generator=g) * 200 + 8
    pc = anc + torch.randn(images, A, 2, generator=g) * 4
    pd = torch.cat([pc - pwh / 2, pc + pwh / 2], -1)
    scores = torch.rand(images, A, classes, generator=g)
    return tuple(t.to(device) for t in (scores, pd, anc, labels, gt * mask, mask))


def implementations(topk):
    def ours(*args):
        return lossext.task_aligned_assign(*args, topk=topk)

    def eager(*args):
        with torch.no_grad():
            return lossext.reference.task_aligned_assign(*args, topk=topk)

    return {"lossext": ours, "reference": eager, "reference+compile": harness.compiled(eager)}


def _sizes(device, full):
    if full or device.type == "cuda":
        return [(16, 100, 80, 13), (16, 100, 80, 10), (16, 20, 80, 10)]
    return [(16, 100, 80, 13), (16, 20, 80, 10)]


def cases(device: torch.device, full: bool):
    for images, boxes, classes, topk in _sizes(device, full):
        args = make_inputs(images, boxes, classes, device)
        scores, pd = args[0], args[1]
        # Read the scores of the candidates only (at most all), the boxes and
        # points; write labels, boxes, scores, mask, index.
        A = scores.shape[1]
        floor = pd.nbytes + scores.nbytes + images * A * (8 + 16 + 1 + 8) + scores.nbytes
        impls = [
            harness.Impl(name, harness.forward(fn, *args), f"topk {topk}")
            for name, fn in implementations(topk).items()
        ]
        yield harness.Case(
            "detection",
            "task_aligned_assign",
            f"{images}x{A}x{classes} G{boxes} k{topk}",
            "float32",
            "fwd",
            floor,
            impls,
            baseline="reference",
        )


def main():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device: {harness.device_name(device)}, threads {torch.get_num_threads()}")
    for case in cases(device, full=False):
        print(f"\n{case.op} {case.shape}")
        for impl in case.impls:
            t = harness.time_ms(impl.fn, device, min_run_time=2.0)["median_ms"]
            if device.type == "cuda":
                mb = harness.peak_memory_mb(impl.fn, device)
            elif not impl.name.endswith("+compile"):
                mb = harness.cpu_peak_memory_mb(impl.fn)
            else:
                mb = None  # inductor's buffers are invisible to the profiler
            peak = f"{mb:9.1f} MiB" if mb is not None else "not measured"
            print(f"  {impl.name:18s} {t:10.2f} ms  peak {peak}")


if __name__ == "__main__":
    main()
