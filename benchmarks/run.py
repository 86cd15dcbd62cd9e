"""Runs every benchmarks/bench_*.py family side by side and writes
<device>.json, <device>.md and <device>.png into build/bench-results
(untracked); --save writes them into benchmarks/results instead, the
published results.

    python benchmarks/run.py                # quick sizes
    python benchmarks/run.py --full         # large sizes (LLM vocabularies, 100k-anchor heads)
    python benchmarks/run.py --full --save  # and replace the published results
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRATCH_DIR = ROOT / "build" / "bench-results"
PUBLISHED_DIR = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import lossext  # noqa: E402
from benchmarks import harness  # noqa: E402


def families(only):
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        name = path.stem[len("bench_") :]
        if only and not any(o in name for o in only):
            continue
        yield name, importlib.import_module(f"benchmarks.{path.stem}")


def progress(done, total, label):
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:70]:<70}")
    sys.stderr.flush()


def commit():
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def run_case(case, device, min_run_time):
    rows = []
    for impl in case.impls:
        row = {"impl": impl.name, "note": impl.note}
        if impl.fn is None:
            row["status"] = "missing"
        else:
            try:
                row.update(harness.time_ms(impl.fn, device, min_run_time))
                row["peak_mb"] = harness.peak_memory_mb(impl.fn, device)
                row["status"] = "ok"
            except Exception as err:  # noqa: BLE001 - a failing baseline is reported, not fatal
                row["status"] = "error"
                row["note"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        rows.append(row)
    base = next((r for r in rows if r["impl"] == case.baseline and r["status"] == "ok"), None)
    for r in rows:
        if r["status"] == "ok":
            r["gbs"] = case.bytes_floor / (r["median_ms"] * 1e-3) / 1e9
            r["speedup"] = base["median_ms"] / r["median_ms"] if base else None
    return rows


def summary(results):
    """One row per case: lossext against the case's baseline and against the
    fastest other implementation that ran (a compiled reference, a peer)."""
    bw = results["copy_bandwidth_gbs"]
    lines = [
        "| op | shape | dtype | mode | lossext ms | baseline ms | speed-up | fastest other | lossext vs it "
        "| % of copy bw | peak MB (lossext / baseline) |",
        "|---|---|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for case in results["cases"]:
        ok = [r for r in case["rows"] if r["status"] == "ok"]
        mine = next((r for r in ok if r["impl"] == "lossext"), None)
        base = next((r for r in ok if r["impl"] == case["baseline"]), None)
        if mine is None or base is None:
            continue
        others = [r for r in ok if not r["impl"].startswith("lossext")]  # not lossext under compile either
        best = min(others, key=lambda r: r["median_ms"])
        peak = f"{mine['peak_mb']:.0f} / {base['peak_mb']:.0f}" if mine.get("peak_mb") is not None else "-"
        lines.append(
            f"| {case['op']} | {case['shape']} | {case['dtype']} | {case['mode']} | {mine['median_ms']:.3f} "
            f"| {base['median_ms']:.3f} ({case['baseline']}) | {mine['speedup']:.1f}x | {best['impl']} "
            f"{best['median_ms']:.3f} | {best['median_ms'] / mine['median_ms']:.2f}x "
            f"| {100 * mine['gbs'] / bw:.0f}% | {peak} |"
        )
    return lines


def _merged_note(results):
    """Families that come from an earlier run (run.py --merge), with that run's commit and date."""
    earlier = sorted(
        {
            (c["family"], c["commit"], c["date"])
            for c in results["cases"]
            if c.get("commit", results["commit"]) != results["commit"]
        }
    )
    if not earlier:
        return []
    return ["Merged from earlier runs: " + "; ".join(f"{f} (commit {c}, {d})" for f, c, d in earlier), ""]


def markdown(results):
    bw = results["copy_bandwidth_gbs"]
    lines = [
        f"Device: {results['device']} · torch {results['torch']} · lossext {results['lossext']} · "
        f"commit {results['commit']} · {results['date']} · copy bandwidth {bw:.1f} GB/s",
        "",
        *_merged_note(results),
        "Summary (medians; 'lossext vs it' above 1 means lossext is faster than the fastest other "
        "implementation in the run):",
        "",
        *summary(results),
        "",
        "Every implementation:",
        "",
        "| family | op | shape | dtype | mode | impl | median ms | speed-up vs baseline | GB/s (floor bytes) "
        "| % of copy bw | peak MB |",
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in results["cases"]:
        for r in case["rows"]:
            if r["status"] == "ok":
                sp = f"{r['speedup']:.2f}x" if r.get("speedup") else "-"
                peak = f"{r['peak_mb']:.0f}" if r.get("peak_mb") is not None else "-"
                cells = [f"{r['median_ms']:.3f}", sp, f"{r['gbs']:.1f}", f"{100 * r['gbs'] / bw:.0f}%", peak]
            else:
                cells = [r["status"] + (f" ({r['note']})" if r["note"] else ""), "", "", "", ""]
            impl = f"**{r['impl']}**" if r["impl"] == case["baseline"] else r["impl"]
            lines.append(
                f"| {case['family']} | {case['op']} | {case['shape']} | {case['dtype']} | {case['mode']} "
                f"| {impl} | " + " | ".join(cells) + " |"
            )
    lines.append("")
    lines.append(
        "Baseline (bold) per case; GB/s counts the fewest bytes the op must move, so "
        "'% of copy bw' is how close an implementation gets to the memory floor."
    )
    return "\n".join(lines) + "\n"


def plot(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels, speed, frac, memory = [], [], [], []
    for case in results["cases"]:
        base = next((r for r in case["rows"] if r["impl"] == case["baseline"] and r["status"] == "ok"), None)
        for r in case["rows"]:
            if r["impl"] == "lossext" and r["status"] == "ok":
                labels.append(f"{case['op']} {case['shape']} {case['dtype']} {case['mode']}")
                speed.append(r.get("speedup") or 0)
                frac.append(r["gbs"] / results["copy_bandwidth_gbs"])
                # Peak memory is only measured where the allocator reports it (CUDA).
                has_peak = base and r.get("peak_mb") and base.get("peak_mb")
                memory.append(r["peak_mb"] / base["peak_mb"] if has_peak else 0)
    if not labels:
        return False
    panels = 3 if any(memory) else 2
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 0.45 * len(labels) + 1.5), sharey=True)
    axes[0].barh(labels, speed, color="tab:blue")
    axes[0].axvline(1.0, color="k", lw=0.8)
    axes[0].set_xlabel("lossext speed-up over the case's baseline")
    axes[1].barh(labels, frac, color="tab:green")
    axes[1].axvline(1.0, color="k", lw=0.8)
    axes[1].set_xlabel("achieved GB/s / measured copy bandwidth")
    if panels == 3:
        axes[2].barh(labels, memory, color="tab:orange")
        axes[2].axvline(1.0, color="k", lw=0.8)
        axes[2].set_xlabel("lossext peak memory / baseline's")
    fig.suptitle(results["device"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def output_dir(args) -> pathlib.Path:
    """Where a run writes: the published folder only when asked (--save)."""
    if args.out:
        return pathlib.Path(args.out)
    return PUBLISHED_DIR if args.save else SCRATCH_DIR


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="large sizes (LLM vocabularies, 100k-anchor heads)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--only", nargs="*", help="families whose name contains one of these")
    ap.add_argument("--min-run-time", type=float, default=1.0, help="seconds of timing per implementation")
    where = ap.add_mutually_exclusive_group()
    where.add_argument(
        "--out", help=f"folder for the results (default {SCRATCH_DIR.relative_to(ROOT)}, untracked)"
    )
    where.add_argument(
        "--save",
        action="store_true",
        help=f"write into {PUBLISHED_DIR.relative_to(ROOT)}, replacing the published results",
    )
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the other families' cases of an existing results file (a suite split over "
        "several runs, e.g. where one command may run only a few minutes)",
    )
    ap.add_argument(
        "--render", metavar="JSON", help="only rewrite the .md and .png of an existing results file"
    )
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        path = pathlib.Path(args.render)
        results = json.loads(path.read_text())
        path.with_suffix(".md").write_text(markdown(results))
        plot(results, path.with_suffix(".png"))
        return 0

    device = torch.device(args.device)
    name = harness.device_name(device)
    print(f"lossext {lossext.__version__} on {name}; build: {lossext.build_info()}", flush=True)
    copy_bw = harness.copy_bandwidth_gbs(device)
    print(f"measured copy bandwidth: {copy_bw:.1f} GB/s", flush=True)

    all_cases = [(fam, case) for fam, mod in families(args.only) for case in mod.cases(device, args.full)]
    results = {
        "device": name,
        "device_type": device.type,
        "torch": torch.__version__,
        "lossext": lossext.__version__,
        "build": lossext.build_info(),
        "commit": commit(),
        "full": args.full,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "copy_bandwidth_gbs": copy_bw,
        "cases": [],
    }
    start = time.time()
    for i, (fam, case) in enumerate(all_cases):
        progress(i, len(all_cases), f"{case.op} {case.shape} {case.dtype} {case.mode}")
        rows = run_case(case, device, args.min_run_time)
        results["cases"].append(
            {
                "family": fam,
                "op": case.op,
                "shape": case.shape,
                "dtype": case.dtype,
                "mode": case.mode,
                "bytes_floor": case.bytes_floor,
                "baseline": case.baseline,
                "commit": results["commit"],
                "date": results["date"],
                "rows": rows,
            }
        )
    progress(len(all_cases), len(all_cases), f"done in {time.time() - start:.0f} s")
    sys.stderr.write("\n")

    out = output_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    stem = name + ("" if args.full else "-quick")
    if args.merge and (out / f"{stem}.json").exists():
        ran = {case["family"] for case in results["cases"]}
        earlier = json.loads((out / f"{stem}.json").read_text())
        kept = [
            {"commit": earlier["commit"], "date": earlier["date"], **c}
            for c in earlier["cases"]
            if c["family"] not in ran
        ]
        results["cases"] = sorted(kept + results["cases"], key=lambda c: c["family"])
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    table = markdown(results)
    (out / f"{stem}.md").write_text(table)
    plotted = plot(results, out / f"{stem}.png")
    print(table)
    print(
        f"wrote {out / stem}.json, .md"
        + (", .png" if plotted else " (no plot: matplotlib missing or no case ran)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
