"""The shared benchmark harness: what a case is, how it is timed, and the
device's own copy bandwidth that every kernel is measured against.

A family's bench file defines `cases(device, full)` yielding `Case`s; run.py
times every `Impl` of every case in one process, side by side.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from typing import Callable

import torch

from benchmarks import peers  # noqa: F401  (puts the peers' folder on sys.path)


@dataclass
class Impl:
    name: str
    fn: Callable[[], object] | None  # one iteration; None when unavailable
    note: str = ""  # why it is missing, or how it was run


@dataclass
class Case:
    family: str
    op: str
    shape: str
    dtype: str
    mode: str  # "fwd" or "fwd+bwd"
    bytes_floor: int  # the fewest bytes one iteration must move through memory
    impls: list[Impl] = field(default_factory=list)
    baseline: str = "reference"


def forward(fn, *args, **kwargs):
    return lambda: fn(*args, **kwargs)


def forward_backward(fn, grad_inputs, *args, **kwargs):
    """Loss, then its gradient w.r.t. grad_inputs (nothing accumulates into .grad)."""
    grad_inputs = tuple(grad_inputs)

    def run():
        out = fn(*args, **kwargs)
        if out.dim():
            out = out.sum()
        return torch.autograd.grad(out, grad_inputs)

    return run


def compiled(fn):
    """torch.compile'd fn; compile errors surface on the first call and are reported."""
    return torch.compile(fn, dynamic=False)


def rotating(fns):
    """Cycles through callables built on different input copies, so that small
    cases are not timed out of a warm cache."""
    cycle = itertools.cycle(fns)
    return lambda: next(cycle)()


def missing(name: str, why: str = "not importable") -> Impl:
    return Impl(name, None, why)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn, device: torch.device, min_run_time: float = 1.0) -> dict:
    """Median milliseconds of fn after warm-up; CUDA events on the GPU,
    torch.utils.benchmark on the CPU."""
    fn()
    _sync(device)
    if device.type == "cuda":
        try:
            import triton.testing

            ms = triton.testing.do_bench(
                fn, warmup=100, rep=max(200, int(min_run_time * 1000)), return_mode="median"
            )
            return {"median_ms": float(ms), "runs": None, "timer": "triton.do_bench"}
        except ImportError:
            times = []
            for _ in range(50):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            return {"median_ms": statistics.median(times), "runs": len(times), "timer": "cuda events"}
    from torch.utils import benchmark

    m = benchmark.Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time)
    return {
        "median_ms": m.median * 1e3,
        "runs": len(m.times) * m.number_per_run,
        "timer": "torch.utils.benchmark",
    }


def peak_memory_mb(fn, device: torch.device) -> float | None:
    """Peak device memory one iteration allocates beyond what was live before."""
    if device.type != "cuda":
        return None
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    _sync(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20


def cpu_peak_memory_mb(fn) -> float:
    """Peak CPU memory one iteration leaves allocated through torch ops,
    beyond what was live before, from torch.profiler's memory events: what
    each op leaves allocated at its start, each later free at its time. A
    lower bound: the profiler nets out the temporaries an op frees before it
    returns, and it does not see the buffers of torch.compile'd (inductor)
    code at all (use it for eager code and single ops). Slow: a profiled run."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    deltas = sorted(
        (e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage
    )
    live = peak = 0
    for _, delta in deltas:
        live += delta
        peak = max(peak, live)
    return peak / 2**20


def copy_bandwidth_gbs(device: torch.device) -> float:
    """Bytes read plus written per second by a large tensor copy: the ceiling
    every memory-bound kernel is compared with."""
    n = (1 << 30 if device.type == "cuda" else 1 << 28) // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    t = time_ms(lambda: dst.copy_(src), device, min_run_time=1.0)["median_ms"]
    return 2 * src.nbytes / (t * 1e-3) / 1e9


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = "cpu"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        name = line.split(":", 1)[1]
                        break
        except OSError:
            pass
        name = f"cpu {name} {torch.get_num_threads()}t"
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
