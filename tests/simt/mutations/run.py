#!/usr/bin/env python3
"""Mutation test of the SIMT tier: each planted bug must be caught.

Every MUTATIONS entry applies one patch (mutations/NAME.patch, paths relative
to csrc/) to a copy of csrc/, rebuilds the test binary incrementally from the
base build, runs the cases it names, and passes only if the run fails *and*
prints the evidence expected for that kind of bug (an AddressSanitizer report,
the emulator's barrier or shuffle diagnosis, a wrong value, a TSan race). A
mutation that slips through fails the tier.

  BUILD=... SRC=... mutations/run.py [NAME ...]
"""

import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIMT = os.path.dirname(HERE)
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(SIMT, "..", "..", "build", "simt", "asan")))
SRC = os.path.abspath(os.environ.get("SRC", os.path.join(SIMT, "..", "..", "csrc")))
TSAN = "-fsanitize=thread"
# A planted bug that changes values must show as a value the reference disagrees with, an output left
# unwritten, or outputs that depend on the schedule; not as any failure (a launcher that is missing from
# the build also fails).
WRONG_VALUES = r"want [-+0-9.einaf]+|outputs differ bitwise|left .* unwritten|unwritten"

# name, build flavour, the .cu files the cases need, test_kernels arguments, evidence (regex over the
# output), what the bug is. Only the named .cu files are linked (the launchers are weak references), so
# a patch to a shared header rebuilds one kernel file, not all of them.
MUTATIONS = [
    (
        "oob-box-tile",
        "asan",
        "box",
        ["--filter", "box_pairwise/f32"],
        r"AddressSanitizer: heap-buffer-overflow",
        "a tile load reads one box past the end (m0 + tid <= m)",
    ),
    (
        "oob-shared-allreduce",
        "asan",
        "cross_entropy",
        ["--filter", "cross_entropy_index/f32"],
        r"AddressSanitizer: heap-buffer-overflow",
        "the block all-reduce reads one __shared__ slot past its array",
    ),
    (
        "no-sync-box-tile",
        "asan",
        "box",
        ["--filter", "box_pairwise/f32/giou"],
        WRONG_VALUES,
        "the barrier between writing a tile and reading it is missing",
    ),
    (
        "no-sync-allreduce",
        "asan",
        "cross_entropy",
        ["--filter", "cross_entropy_index/f32"],
        WRONG_VALUES,
        "the barrier between the partial writes and the final read of the block all-reduce is missing",
    ),
    (
        "no-sync-box-prev-tile",
        "asan",
        "box",
        ["--filter", "box_pairwise/f32", "--grid-cap", "1"],
        WRONG_VALUES,
        "the barrier that keeps a tile alive until every thread has read it is missing (seen when one block walks "
        "several tiles)",
    ),
    (
        "divergent-sync",
        "asan",
        "box",
        ["--filter", "box_pairwise/f32"],
        r"__syncthreads divergence",
        "a __syncthreads reached by only some threads of the block",
    ),
    (
        "shfl-exited-lanes",
        "asan",
        "focal",
        ["--filter", "sigmoid_focal/f32"],
        r"the mask names lanes that have exited",
        "a full-mask shuffle after some lanes returned",
    ),
    (
        "no-sync-seg-stats",
        "asan",
        "segmentation",
        ["--filter", "segmentation/f32/softmax-index"],
        WRONG_VALUES,
        "the barrier between the threads' shared-memory columns and the block's column sums is missing",
    ),
    (
        "tv-combine-drops-chunk",
        "asan",
        "total_variation",
        ["--filter", "total_variation/f32"],
        WRONG_VALUES,
        "the per-plane combine skips the last chunk's partial sums",
    ),
    (
        "no-sync-box-tile",
        "tsan",
        "box",
        ["--filter", "box_pairwise/f32/giou/xyxy", "--schedules", "reverse"],
        r"ThreadSanitizer: data race",
        "the same missing tile barrier, as a race (one schedule that gives right values)",
    ),
    (
        "no-sync-box-prev-tile",
        "tsan",
        "box",
        ["--filter", "box_pairwise/f32/iou/xyxy", "--grid-cap", "1", "--schedules", "forward"],
        r"ThreadSanitizer: data race",
        "the same missing tile barrier, as a race between two other barriers (a schedule that gives right values)",
    ),
    (
        "no-sync-allreduce",
        "tsan",
        "cross_entropy",
        ["--filter", "cross_entropy_index/f32/N3_C2049", "--schedules", "reverse"],
        r"ThreadSanitizer: data race",
        "the same missing all-reduce barrier, as a race (the reverse schedule gives right values)",
    ),
]


def build_mutant(name, flavour, kernels):
    """A copy of csrc/ with NAME.patch applied, built from a copy of the base build."""
    base = BUILD + ("-tsan" if flavour == "tsan" else "")
    root = os.path.join(BUILD + "-mutations", f"{name}-{flavour}")
    src, build = os.path.join(root, "csrc"), os.path.join(root, "build")
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(SRC, src, symlinks=True)  # copy2 keeps times: only what the patch touches is rebuilt
    patch_file = os.path.join(HERE, name + ".patch")
    patched = re.findall(r"^\+\+\+ b/(\S+)", open(patch_file).read(), re.M)
    # A plain header (kernels/*.h) is compiled into the reference side too, so a bug planted there would
    # change both sides alike: only CUDA files (.cu, .cuh) make meaningful mutants.
    bad = [p for p in patched if not p.endswith((".cu", ".cuh"))]
    if bad:
        raise SystemExit(f"{name}.patch changes {bad}: mutations must touch only .cu / .cuh files")
    # git apply (patch(1) is not everywhere), kept from finding the project's repository above the copy.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=os.path.dirname(src))
    subprocess.run(["git", "apply", "-p1", patch_file], cwd=src, env=env, check=True)
    if os.path.isdir(base):
        shutil.copytree(base, build, symlinks=True)
    # -O0 for what the patch makes make rebuild: the sanitizers catch the same bugs, and it compiles faster.
    args = [
        "make",
        "-s",
        "-C",
        SIMT,
        "-j2",
        f"BUILD={build}",
        f"SRC={src}",
        f"KERNELS={kernels}",
        "OPT=-O0 -g",
        "all",
    ]
    if flavour == "tsan":
        args.append(f"SAN={TSAN}")
    subprocess.run(args, check=True)
    return root, os.path.join(build, "test_kernels")


def main():
    names = sys.argv[1:]
    caught = missed = 0
    for name, flavour, kernels, args, evidence, what in MUTATIONS:
        if names and name not in names:
            continue
        t0 = time.time()
        # Control: the unmutated binary passes the same selection (so a failure below is the bug's doing).
        control = subprocess.run(
            [BUILD + ("-tsan" if flavour == "tsan" else "") + "/test_kernels", *args, "--no-coverage"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if control.returncode != 0:
            print(f"MISSED  {name} ({flavour}): the unmutated build already fails {args}")
            missed += 1
            continue
        root, binary = build_mutant(name, flavour, kernels)
        run = subprocess.run([binary, *args], capture_output=True, text=True, timeout=600)
        out = run.stdout + run.stderr
        selected = re.search(r"^(ok  |FAIL) ", out, re.M) is not None or "ERROR" in out or "Sanitizer" in out
        ok = selected and run.returncode != 0 and re.search(evidence, out, re.M) is not None
        if not selected:
            print(f"        the filter {args} selects no case: rename it to a case that exists (--list)")
        caught += ok
        missed += not ok
        if ok:
            shutil.rmtree(root, ignore_errors=True)  # about 80 MB each
        status = "caught" if ok else "MISSED"
        print(f"{status:7s} {name} ({flavour}, {time.time() - t0:.0f} s): {what}")
        if not ok:
            print(f"        expected /{evidence}/ and a failing run; exit {run.returncode}, output tail:")
            print("        " + "\n        ".join(out.strip().splitlines()[-15:]))
    print(f"mutations: {caught} caught, {missed} missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
