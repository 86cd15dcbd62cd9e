"""Every lossext op, forward and backward, at a small size: the workload that
compute-sanitizer checks on the GPU. With --determinism, runs each twice and
reports whether the results are bitwise identical.

    python benchmarks/cuda_smoke.py [--device cpu] [--determinism]
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import lossext  # noqa: E402


def workloads(device):
    x = torch.randn(64, 1000, device=device, requires_grad=True)
    y = torch.randint(0, 1000, (64,), device=device)
    y[0] = -100
    seg = torch.randn(2, 5, 7, 3, device=device, requires_grad=True)
    seg_y = torch.randint(0, 5, (2, 7, 3), device=device)
    t = torch.softmax(torch.randn(64, 1000, device=device), 1)
    w = torch.rand(1000, device=device)
    yield "cross_entropy index", lambda: lossext.cross_entropy(x, y, w, label_smoothing=0.1, z_loss=1e-4), [x]
    yield "cross_entropy (N,C,d)", lambda: lossext.cross_entropy(seg, seg_y), [seg]
    yield "cross_entropy prob", lambda: lossext.cross_entropy(x, t), [x]
    xb = torch.randn(16, 4096, device=device, dtype=torch.bfloat16, requires_grad=True)
    yb = torch.randint(0, 4096, (16,), device=device)
    yield "cross_entropy bf16", lambda: lossext.cross_entropy(xb, yb), [xb]
    yield from segmentation_workloads(device)


def segmentation_workloads(device):
    """Dice / Jaccard / Tversky / Dice+CE: every kernel variant (softmax or
    identity over index targets, sigmoid or identity over dense masks, the
    cross-entropy term), ignored pixels, a ragged pixel count spanning several
    blocks, a 3-D volume, bfloat16, and a class count that needs opted-in
    shared memory."""
    x = torch.randn(3, 19, 37, 41, device=device, requires_grad=True)
    y = torch.randint(0, 19, (3, 37, 41), device=device)
    y[:, :4] = 255
    yield "dice multiclass", lambda: lossext.dice_loss(x, y, "multiclass", ignore_index=255), [x]
    yield "dice_ce", lambda: lossext.dice_ce_loss(x, y, ignore_index=255, label_smoothing=0.1), [x]
    yield "jaccard multiclass probs squared", lambda: lossext.jaccard_loss(
        x.softmax(1), y, "multiclass", from_logits=False, ignore_index=255, squared_pred=True), [x]
    xm = torch.randn(2, 4, 9, 10, 11, device=device, requires_grad=True)
    tm = (torch.rand(2, 4, 9, 10, 11, device=device) > 0.5).float()
    tm[:, :, 0] = 255
    yield "tversky multilabel 3d", lambda: lossext.tversky_loss(xm, tm, "multilabel", ignore_index=255, alpha=0.3,
                                                                beta=0.7, gamma=1.5, per_image=True), [xm]
    yield "dice multilabel probs", lambda: lossext.dice_loss(xm.sigmoid(), tm, "multilabel", from_logits=False,
                                                             ignore_index=255), [xm]
    xb = torch.randn(2, 19, 64, 96, device=device, dtype=torch.bfloat16, requires_grad=True)
    yb = torch.randint(0, 19, (2, 64, 96), device=device)
    yield "dice multiclass bf16", lambda: lossext.dice_loss(xb, yb, "multiclass"), [xb]
    xw = torch.randn(2, 150, 5, 7, device=device, requires_grad=True)
    yw = torch.randint(0, 150, (2, 5, 7), device=device)
    yield "dice_ce 150 classes", lambda: lossext.dice_ce_loss(xw, yw), [xw]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--determinism", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    same = True
    for name, fn, inputs in workloads(device):
        outs = []
        for _ in range(2 if args.determinism else 1):
            loss = fn()
            grads = torch.autograd.grad(loss, inputs)
            outs.append([loss.detach().clone(), *[g.clone() for g in grads]])
        if device.type == "cuda":
            torch.cuda.synchronize()
        if args.determinism:
            ok = all(torch.equal(a, b) for a, b in zip(*outs))
            same &= ok
            print(f"{name}: {'bitwise identical' if ok else 'DIFFERS'}")
        else:
            print(f"{name}: loss {loss.item():.6f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
