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
