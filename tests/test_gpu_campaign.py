"""tools/gpu_campaign.sh checked without a GPU: its syntax; the plan its dry run prints (every
required stage, budgets that fit one 9-minute run, every output under $OUT, sm_90 only); and real runs
in which stand-ins for python, nvidia-smi, compute-sanitizer and cuobjdump hang or fail on purpose
(stages cut at their budget, GPU stages skipped after a failed build, what is left under $OUT)."""

import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "gpu_campaign.sh"
RUN_SECONDS = 540  # one GPU run of at most 9 minutes
REQUIRED = {"setup", "build", "tests", "memcheck", "determinism", "bench-quick"}

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("timeout") is None,
    reason="needs bash and coreutils' timeout",
)


def run_script(*args, env=None, timeout=120):
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def dry_run(*args, out="/tmp/lossext-campaign-out", env=None):
    """The plan: stages in order, each with start, budget, lane (None outside a parallel step), commands."""
    proc = run_script("--dry-run", *args, env={"OUT": out, **(env or {})})
    stages, total, finalize, group = [], None, None, None
    for line in proc.stdout.splitlines():
        if m := re.match(r"STAGE (\S+) start=(\d+) budget=(\d+)(?: lane=(\d+))?", line):
            stages.append(
                dict(name=m[1], start=int(m[2]), budget=int(m[3]), lane=m[4], cmds=[], parallel_group=None)
            )
        elif line.startswith("PARALLEL"):
            group = line
        elif line.startswith("  $ "):
            stages[-1]["cmds"].append(line[4:])
        elif m := re.match(r"FINALIZE start=(\d+) budget=(\d+)", line):
            finalize = (int(m[1]), int(m[2]), line)
        elif m := re.match(r"TOTAL (\d+) s", line):
            total = int(m[1])
        if stages and stages[-1]["lane"] and stages[-1]["parallel_group"] is None:
            stages[-1]["parallel_group"] = group
    return proc, stages, finalize, total


def wall_budget(stages, finalize):
    """Seconds the plan may take, from the budgets alone: stages one after another, except that the
    lanes of a parallel step run side by side (the step takes its longest lane)."""
    wall, lanes, group = 0, {}, None
    for s in stages + [dict(lane=None, budget=0, parallel_group=None)]:
        if s["lane"] is None or s["parallel_group"] != group:
            wall += max(lanes.values(), default=0)
            lanes, group = {}, s["parallel_group"]
        if s["lane"] is None:
            wall += s["budget"]
        else:
            lanes[s["lane"]] = lanes.get(s["lane"], 0) + s["budget"]
    return wall + finalize[1]


def by_name(stages):
    return {s["name"]: s for s in stages}


def test_script_syntax():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.mark.parametrize("plan", ["campaign", "rest"])
def test_plan_fits_one_nine_minute_run(plan):
    proc, stages, finalize, total = dry_run(plan)
    assert proc.returncode == 0, proc.stderr
    wall = wall_budget(stages, finalize)
    assert wall <= RUN_SECONDS
    assert total == wall  # the script's own arithmetic agrees
    for s in stages:  # and no stage is planned past the deadline
        assert s["start"] + s["budget"] <= finalize[0]


def test_default_is_the_campaign_with_every_required_stage():
    proc, stages, _, _ = dry_run()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("PLAN campaign")
    names = [s["name"] for s in stages]
    assert REQUIRED <= set(names)
    gpu_stages = REQUIRED - {"setup", "build"}
    assert names.index("setup") < names.index("build") < min(names.index(n) for n in gpu_stages)
    assert names.index("memcheck") < names.index("determinism") < names.index("bench-quick")
    s = by_name(stages)
    (build,) = [c for c in s["build"]["cmds"] if "setup.py" in c]
    assert "MAX_JOBS=16" in build and "build_ext --inplace" in build
    assert any(c.startswith("check_cuda_build 9.0") for c in s["build"]["cmds"])
    (tests,) = s["tests"]["cmds"]
    assert "LOSSEXT_REQUIRE_CUDA=1" in tests and " -m pytest -m cuda " in tests
    (memcheck,) = s["memcheck"]["cmds"]
    assert memcheck.startswith("compute-sanitizer --tool memcheck --error-exitcode")
    assert "tools/cuda_smoke.py" in memcheck
    (determinism,) = s["determinism"]["cmds"]
    assert "tools/cuda_smoke.py --determinism" in determinism
    families = {p.stem[len("bench_") :] for p in (ROOT / "benchmarks").glob("bench_*.py")}
    benched = {re.search(r"--only (\S+)", c)[1] for c in s["bench-quick"]["cmds"] if "benchmarks/run.py" in c}
    assert benched == families
    assert not any("--full" in c for c in s["bench-quick"]["cmds"])


def test_rest_has_racecheck_full_benchmarks_and_wheel():
    proc, stages, _, _ = dry_run("rest")
    assert proc.returncode == 0, proc.stderr
    s = by_name(stages)
    assert {"racecheck", "bench-full", "wheel"} <= set(s)
    assert s["racecheck"]["cmds"][0].startswith("compute-sanitizer --tool racecheck")
    assert all("--full" in c for c in s["bench-full"]["cmds"] if "benchmarks/run.py" in c)
    assert any("pip wheel --no-build-isolation" in c for c in s["wheel"]["cmds"])
    assert any(c.startswith("wheel_smoke") for c in s["wheel"]["cmds"])


@pytest.mark.parametrize("plan", ["campaign", "rest"])
def test_every_log_and_result_goes_under_out(plan, tmp_path):
    out = str(tmp_path / "out")
    proc, stages, finalize, _ = dry_run(plan, out=out)
    assert proc.returncode == 0, proc.stderr
    written = []
    for s in stages:
        for c in s["cmds"]:
            written += re.findall(r"(?:>>?|--out|--junitxml=)\s*(\S+)", c)
            if c.startswith("ls -l ") and " && cp " in c:
                written.append(c.split()[-4])  # the wheel's copy: cp SRC DEST >> LOG 2>&1
    written += re.findall(r"(/\S+?),? ", finalize[2] + " ")
    assert len(written) > 2 * len(stages)
    outside = [w for w in written if w != "&1" and not w.startswith(out + "/")]
    assert not outside, outside


def test_campaign_builds_for_sm90_only():
    _, stages, _, _ = dry_run()
    cmds = [c for s in stages for c in s["cmds"]]
    archs = [a for c in cmds for a in re.findall(r"TORCH_CUDA_ARCH_LIST=(\S+)", c)]
    assert archs == ["9.0"]
    assert not any(re.search(r"sm_[0-8]\d|compute_\d|8\.0", c) for c in cmds)
    assert "check_sm90_only" in " ".join(by_name(stages)["build"]["cmds"])
    # Only the wheel of the second run ships sm_80 as well.
    _, rest, _, _ = dry_run("rest")
    arch_stages = {
        s["name"]: re.findall(r"TORCH_CUDA_ARCH_LIST='?([^' ]+)", " ".join(s["cmds"])) for s in rest
    }
    assert arch_stages["build"] == ["9.0"] and arch_stages["wheel"] == ["8.0;9.0"]


def test_plan_over_the_deadline_is_refused():
    proc, _, _, total = dry_run(env={"BUDGET_tests": "400"})
    assert total > RUN_SECONDS
    assert proc.returncode == 1 and "does not fit" in proc.stderr


def test_unknown_stage_is_refused():
    proc = run_script("--dry-run", "memcheck", "no-such-stage")
    assert proc.returncode == 2 and "unknown stage" in proc.stderr


def test_the_old_path_runs_the_same_campaign():
    # benchmarks/gpu_campaign.sh, the path device-machine instructions name, hands over to tools/.
    args, out = ["--dry-run", "memcheck", "determinism"], {"OUT": "/tmp/lossext-campaign-out"}
    old = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_campaign.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **out},
    )
    new = run_script(*args, env=out)
    assert old.returncode == new.returncode == 0, old.stderr
    assert "STAGE memcheck" in old.stdout and old.stdout == new.stdout


# ---- real runs with stand-ins ---------------------------------------------------------------------------

# python3 as the campaign calls it, answering from canned output; STUB_* variables make it hang or fail.
STUB_PYTHON = r"""
case "$*" in
  *"setup.py build_ext --inplace"*) echo "stub build of lossext"; exit "${STUB_BUILD_RC:-0}" ;;
  *"import xdist"* | *"import pytest_timeout"*) exit 1 ;;
  *"import lossext._C"*) echo /nonexistent/_C.so ;;
  *"import lossext, sys"*) echo "build_info: {'cuda_kernels': True, 'cuda_archs': '9.0'}" ;;
  "- "*) cat >/dev/null; echo "{'cuda_kernels': True, 'cuda_archs': '8.0;9.0'}"; echo "cuda wheel ok" ;;
  -) cat >/dev/null; echo "python: 3.12.3"; echo "torch: 2.11.0+stub (CUDA 13.0)"
     echo "device: Stub GPU, compute capability 9.0, 132 SMs, 139.8 GiB" ;;
  *"-m pytest"*)
    echo "tests/t.py::a[cuda] PASSED  [ 33%]"; echo "tests/t.py::b[cuda] PASSED  [ 66%]"
    [ "${STUB_TESTS:-}" = hang ] && sleep 600
    echo "tests/t.py::c[cuda] PASSED  [100%]"; echo "===== 3 passed in 0.10s =====" ;;
  *"cuda_smoke.py --determinism"*) echo "cross_entropy: bitwise identical"; echo "dice: bitwise identical" ;;
  *"cuda_smoke.py"*) echo "cross_entropy index: loss 6.9" ;;
  *"-m pip wheel"*) dir=$(sed -E 's/.* -w ([^ ]+).*/\1/' <<<"$*"); mkdir -p "$dir"
     [ -f setup.py ] && [ ! -e build ] && touch "$dir/lossext-0.1.0-cp312-cp312-linux_x86_64.whl" ;;
  *"-m pip install"*"--target"*) mkdir -p "$(sed -E 's/.*--target ([^ ]+).*/\1/' <<<"$*")/lossext" ;;
  *"benchmarks/run.py"*)
    out=$(sed -E 's/.*--out ([^ ]+).*/\1/' <<<"$*") only=$(sed -E 's/.*--only ([^ ]+).*/\1/' <<<"$*")
    [ "$only" = "${STUB_BENCH_HANG:-}" ] && sleep 600
    mkdir -p "$out"
    stem=$out/stub-gpu-quick; [[ $* == *--full* ]] && stem=$out/stub-gpu
    echo "{}" >"$stem.json"; echo png >"$stem.png"
    printf 'Device: stub-gpu\n\n| op | lossext ms |\n|---|---:|\n| %s | 0.1 |\n\n' "$only" >"$stem.md"
    echo "Every implementation:" >>"$stem.md" ;;
  *) echo "stub python: unexpected arguments: $*" >&2; exit 3 ;;
esac
"""
STUBS = {
    "nvidia-smi": 'echo "580.159.04"',
    "compute-sanitizer": (
        '[ "$1" = --version ] && { echo "Version 2099.1.0"; exit; }\n'
        'while [[ $1 == --* ]]; do shift 2; done\n"$@"; rc=$?\n'
        'echo "========= ERROR SUMMARY: 0 errors"; exit $rc'
    ),
    "cuobjdump": (
        'echo "ELF file    1: _C.1.sm_90.cubin"\n'
        '[ "${STUB_ARCHS:-}" = mixed ] && echo "ELF file    2: _C.2.sm_80.cubin"; exit 0'
    ),
}


def stub_run(tmp_path, *args, **stub_env):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in {**STUBS, "python": STUB_PYTHON}.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body + "\n")
        (bin_dir / name).chmod(0o755)
    out = tmp_path / "out"
    env = {
        "OUT": str(out),
        "WORK": str(tmp_path / "work"),
        "PYTHON": str(bin_dir / "python"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        **stub_env,
    }
    start = time.monotonic()
    proc = run_script(*args, env=env)
    summary = (out / "SUMMARY.md").read_text()
    table = summary.split("|---|---|---:|---:|\n", 1)[1].split("\n\n")[0]  # the stage table
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in table.splitlines()]
    rows = {c[0]: c[1] for c in cells}
    return proc, out, summary, rows, time.monotonic() - start


def returned_files(out):
    files = [p for p in out.rglob("*") if p.is_file()]
    # What a remote run hands back: at most 8 files, at most two folders down.
    assert len(files) <= 8, files
    assert all(len(p.relative_to(out).parts) <= 3 for p in files), files
    return {str(p.relative_to(out)) for p in files}


def test_hung_stages_are_cut_at_their_budget(tmp_path):
    proc, out, summary, rows, seconds = stub_run(
        tmp_path, STUB_TESTS="hang", BUDGET_tests="3", STUB_BENCH_HANG="focal", BENCH_FAMILY_CAP="3"
    )
    assert seconds < 60, proc.stdout
    assert proc.returncode == 1  # not everything passed
    assert rows == {
        "setup": "ok",
        "build": "ok",
        "tests": "TIMEOUT",
        "memcheck": "ok",
        "determinism": "ok",
        "bench-quick": "TIMEOUT",
    }, summary
    assert "**tests**: 2 passed, 0 failed, 0 errors so far" in summary  # where pytest was cut
    assert "device: Stub GPU" in summary and "torch: 2.11.0+stub" in summary
    assert "device code: sm_90 only" in summary
    assert "ERROR SUMMARY: 0 errors" in summary
    assert "2 workloads bitwise identical, 0 differ" in summary
    # The hung family cost itself only: the families after it ran.
    assert "focal exit 124" in summary and "detection ok" in summary
    # The stub writes each family's table over the previous one: the summary shows the last family's.
    families = summary.split("**bench-quick** (families): ", 1)[1].split("\n", 1)[0].split("; ")
    assert f"| {families[-1].split()[0]} | 0.1 |" in summary
    assert returned_files(out) == {
        "SUMMARY.md",
        "logs.tar.gz",
        "bench/stub-gpu-quick.json",
        "bench/stub-gpu-quick.md",
        "bench/stub-gpu-quick.png",
    }
    with tarfile.open(out / "logs.tar.gz") as tar:
        names = set(tar.getnames())
        logs = {"setup", "build", "tests", "memcheck", "determinism", "bench-quick"}
        assert {f"logs/{n}.log" for n in logs} | {"logs/env.txt", "logs/status.tsv"} <= names
        assert "(timed out after" in tar.extractfile("logs/tests.log").read().decode()


def test_failed_build_skips_the_gpu_stages(tmp_path):
    proc, out, summary, rows, _ = stub_run(tmp_path, STUB_BUILD_RC="1")
    assert proc.returncode == 1
    assert rows["build"] == "FAIL (exit 1)"
    for stage in REQUIRED - {"setup", "build"}:
        assert rows[stage] == "skipped (no working CUDA build)"
    assert "stub build of lossext" in summary  # the end of the build log
    assert returned_files(out) == {"SUMMARY.md", "logs.tar.gz"}


def test_device_code_for_other_targets_fails_the_build_stage(tmp_path):
    proc, _, summary, rows, _ = stub_run(tmp_path, "determinism", STUB_ARCHS="mixed")
    assert proc.returncode == 1
    assert rows["build"] == "FAIL (exit 1)" and "sm_80" in summary
    assert rows["determinism"] == "ok"  # the extension itself works: the GPU stages still run


def test_second_run_racecheck_wheel_full_benchmarks(tmp_path):
    proc, out, summary, rows, _ = stub_run(tmp_path, "rest")
    assert proc.returncode == 0, summary
    assert rows == {"setup": "ok", "build": "ok", "racecheck": "ok", "wheel": "ok", "bench-full": "ok"}
    assert "cuda wheel ok" in summary
    # The wheel was built from a clean copy (no build/ folder, no compiled extension) and comes back.
    wheel = "lossext-0.1.0-cp312-cp312-linux_x86_64.whl"
    assert returned_files(out) == {
        "SUMMARY.md",
        "logs.tar.gz",
        wheel,
        "bench/stub-gpu.json",
        "bench/stub-gpu.md",
        "bench/stub-gpu.png",
    }
    src = tmp_path / "work" / "src"
    assert (src / "setup.py").exists() and not list(src.glob("lossext/*.so"))
