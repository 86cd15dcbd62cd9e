#!/usr/bin/env bash
# The GPU validation campaign: on a CUDA machine, build lossext for sm_90, run the CUDA tests,
# compute-sanitizer and the determinism check, and time the benchmark suite. Each stage runs under
# `timeout` with its own budget and all of them under one deadline, so a stage that hangs costs its
# budget and no more.
#
#   bash tools/gpu_campaign.sh [--dry-run] [campaign | rest | STAGE...]
#
#   campaign  (the default) fits one run of at most 9 minutes (CAMPAIGN_SECONDS, default 540):
#             setup, build (sm_90 only), then tests alongside memcheck -> determinism, then bench-quick
#   rest      the optional second run: setup, build (no work left if the build is still there), then
#             racecheck alongside wheel (sm_80 + sm_90), then bench-full
#   STAGE...  the named stages in that order, after setup and build
#   --dry-run print each stage's budget and commands; run nothing
#
# Everything lands under $OUT (default /tmp/lossext-gpu), in few files on purpose (a remote run may hand
# back only a handful): SUMMARY.md (device, torch, each stage's status and time, what each log says),
# logs.tar.gz (every log), bench/ (the benchmark json, md and png) and, after `rest`, the wheel.
# Scratch (the peers' install, the wheel's build) goes to $WORK (default /tmp/lossext-campaign).
# Peers the machine lacks travel as wheels in .whl/ (tools/fetch_gpu_wheels.sh); setup installs them.
# BUDGET_<stage>=SECONDS overrides a stage's budget (write bench-quick as bench_quick); BENCH_ONLY="focal
# box" limits the benchmarks to those families, merged into the GPU results in benchmarks/results;
# BENCH_FAMILY_CAP=SECONDS caps each family (default 110 quick, 200 full).
set -uo pipefail
OUT=$(realpath -m "${OUT:-/tmp/lossext-gpu}")  # before the cd: a relative OUT is the caller's
WORK=$(realpath -m "${WORK:-/tmp/lossext-campaign}")  # scratch: the peers' install, the wheel's build
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
LOGS=$OUT/logs
CAMPAIGN_SECONDS=${CAMPAIGN_SECONDS:-540}
RESERVE=15  # seconds kept after the last stage for SUMMARY.md and the log archive
DRY=0
args=()
for a in "$@"; do
  case $a in
    --dry-run) DRY=1 ;;
    -h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

# Budgets in seconds. The campaign's wall time is setup + build + max(tests, memcheck + determinism)
# + bench-quick + RESERVE = 30 + 180 + 180 + 135 + 15 = 540; the benchmarks also get whatever the
# earlier stages leave unused (the build alone should take well under its 180 s on 16 cores).
# rest: 30 + 180 + max(racecheck, wheel) + 135 + 15 = 540.
declare -A BUDGET=([setup]=30 [build]=180 [tests]=180 [memcheck]=135 [determinism]=45 [bench-quick]=135
                   [racecheck]=150 [wheel]=180 [bench-full]=135)
declare -A WHAT=(
  [setup]="nvidia-smi, the peers' wheels from .whl/, device and toolchain versions"
  [build]="setup.py build_ext --inplace against the machine's torch, sm_90 only; import check; device code"
  [tests]="pytest on the CUDA-marked tests, CUDA required"
  [memcheck]="compute-sanitizer memcheck over tools/cuda_smoke.py (every op, forward and backward)"
  [determinism]="every op twice on the same inputs, outputs and gradients compared bitwise"
  [bench-quick]="benchmarks/run.py at the quick sizes, one family per process, merged"
  [racecheck]="compute-sanitizer racecheck (shared-memory hazards) over tools/cuda_smoke.py"
  [wheel]="a wheel for sm_80 + sm_90 built from a clean copy, installed apart, smoke-tested on the GPU"
  [bench-full]="benchmarks/run.py --full, one family per process, merged"
)
ELASTIC=" bench-quick bench-full "  # stages that may use all the time left before the deadline
for s in "${!BUDGET[@]}"; do
  v=BUDGET_${s//-/_}
  if [ -n "${!v:-}" ]; then BUDGET[$s]=${!v}; fi
done

# A plan is a list of steps: a stage, or stages run side by side ("a|b,c": lane a, and lane b then c).
case "${args[0]:-campaign}" in
  campaign) PLAN_NAME=campaign; PLAN=(setup build "tests|memcheck,determinism" bench-quick) ;;
  rest) PLAN_NAME=rest; PLAN=(setup build "racecheck|wheel" bench-full) ;;
  *)
    PLAN_NAME="stages: ${args[*]}"
    PLAN=(setup build)
    for s in "${args[@]}"; do
      [ -n "${BUDGET[$s]:-}" ] || { echo "unknown stage '$s' (stages: ${!BUDGET[*]})" >&2; exit 2; }
      [ "$s" = setup ] || [ "$s" = build ] || PLAN+=("$s")
    done
    ;;
esac

export PY PYTHONUNBUFFERED=1 PYTHONHASHSEED=0  # tests seed from hash(): fixed, so failures replay

# ---- helpers run by the stages' commands (through bash -c, hence exported) ----------------------------

env_info() {
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
  echo "nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo missing)"
  echo "compute-sanitizer: $(compute-sanitizer --version 2>/dev/null | grep -o 'Version [^ ]*' || echo missing)"
  "$PY" - <<'PY'
import platform
import torch
print(f"python: {platform.python_version()}")
print(f"torch: {torch.__version__} (CUDA {torch.version.cuda})")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device: {p.name}, compute capability {p.major}.{p.minor}, {p.multi_processor_count} SMs, "
          f"{p.total_memory / 2**30:.1f} GiB")
else:
    print("device: none (torch.cuda.is_available() is False)")
PY
}

# lossext imports with its CUDA kernels, sees the GPU, and was built for exactly the archs asked for.
check_cuda_build() {
  "$PY" -c "
import lossext, sys
info = lossext.build_info()
print('build_info:', info)
ok = info['cuda_kernels'] and info['cuda_available'] and info['cuda_archs'] == sys.argv[1]
sys.exit(0 if ok else 'not a CUDA build for ' + sys.argv[1] + ' that sees a GPU')
" "$1"
}

# The extension's device code: sm_90 machine code only (no other target, no PTX for the driver to JIT).
check_sm90_only() {
  local so listing
  command -v cuobjdump >/dev/null || { echo "cuobjdump missing: device code not listed"; return 1; }
  so=$("$PY" -c 'import lossext._C as m; print(m.__file__)') || return 1
  listing=$(cuobjdump --list-elf --list-ptx "$so" 2>/dev/null | grep -E '^(ELF|PTX) file') || {
    echo "no device code found in $so"
    return 1
  }
  echo "$listing"
  if grep -v -E '\.sm_90\.cubin$' <<<"$listing"; then
    echo "device code for other targets than sm_90 (above)"
    return 1
  fi
  echo "device code: sm_90 only"
}

# The installed wheel, not this checkout: run from beside the install folder, which is on the path.
wheel_smoke() {
  (cd "$(dirname "$1")" && PYTHONPATH="$1${PYTHONPATH:+:$PYTHONPATH}" "$PY" - "$1") <<'PY'
import sys
import torch
import lossext
assert lossext.__file__.startswith(sys.argv[1]), lossext.__file__
info = lossext.build_info()
print(info)
assert info["cuda_kernels"] and info["cuda_archs"] == "8.0;9.0", info
x = torch.randn(64, 1000, device="cuda", requires_grad=True)
y = torch.randint(0, 1000, (64,), device="cuda")
loss = lossext.cross_entropy(x, y)
loss.backward()
torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(x, y))
print("cuda wheel ok")
PY
}
# Earlier GPU results of the same kind (quick or full), so that a BENCH_ONLY run merges into them.
copy_earlier_results() {  # quick|full DEST
  local f is_quick
  for f in benchmarks/results/nvidia-*.json; do
    [ -e "$f" ] || continue
    is_quick=full
    [[ $f == *-quick.json ]] && is_quick=quick
    if [ "$is_quick" = "$1" ]; then cp -v "$f" "$2"/; fi
  done
}
export -f env_info check_cuda_build check_sm90_only wheel_smoke copy_earlier_results

# ---- running a stage ---------------------------------------------------------------------------------

now() { date +%s; }

# cmd LOG SNIPPET: one command of the current stage, under the time the stage has left (and at most
# CAP seconds when CAP is set), its output appended to LOG. The dry run prints it instead.
cmd() {
  local log=$1 snippet=$2 left rc
  if [ "$DRY" = 1 ]; then
    printf '  $ %s  >> %s 2>&1%s\n' "$snippet" "$log" "${CAP:+  (at most ${CAP} s)}"
    return 0
  fi
  left=$((STAGE_END - $(now)))
  if [ -n "${CAP:-}" ] && [ "$CAP" -lt "$left" ]; then left=$CAP; fi
  if [ "$left" -lt 2 ]; then
    echo "== not run, no time left: $snippet" >>"$log"
    STAGE_TIMED_OUT=1
    return 124
  fi
  echo "\$ $snippet" >>"$log"
  timeout -k 5 "$left" bash -c "$snippet" >>"$log" 2>&1 </dev/null
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "== exit $rc$([ $rc -eq 124 ] || [ $rc -eq 137 ] && echo " (timed out after ${left} s)")" >>"$log"
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then STAGE_TIMED_OUT=1; fi
    if [ "$STAGE_RC" -eq 0 ]; then STAGE_RC=$rc; fi
  fi
  return $rc
}

note() { if [ "$DRY" = 1 ]; then echo "  # $*"; fi; }

record() {  # NAME STATUS SECONDS BUDGET
  printf '%s\t%s\t%s\t%s\n' "$@" >>"$LOGS/status.tsv"
  echo "== $1: $2 ($3 s of $4 s)"
}

PLAN_T=0  # the dry run's clock: when each stage would start at the latest
run_stage() {  # NAME [LANE]
  local name=$1 lane=${2:-} budget=${BUDGET[$1]} start left
  if [ "$DRY" = 1 ]; then
    printf 'STAGE %s start=%s budget=%s%s%s\n' "$name" "$PLAN_T" "$budget" "${lane:+ lane=$lane}" \
      "$([[ $ELASTIC == *" $name "* ]] && echo ' (+ the time earlier stages leave unused)')"
    echo "  # ${WHAT[$name]}"
    PLAN_T=$((PLAN_T + budget))
    STAGE_LOG=$LOGS/$name.log "stage_${name//-/_}"
    return
  fi
  start=$(now)
  left=$((DEADLINE - start))
  if [ "$name" != setup ] && [ "$name" != build ] && [ ! -e "$LOGS/.cuda_build_ok" ]; then
    record "$name" "skipped (no working CUDA build)" 0 "$budget"
    return
  fi
  if [ "$left" -lt 5 ]; then
    record "$name" "skipped (deadline)" 0 "$budget"
    return
  fi
  if [[ $ELASTIC == *" $name "* ]] || [ "$budget" -gt "$left" ]; then budget=$left; fi
  echo "== $name: ${WHAT[$name]} (up to $budget s)"
  STAGE_LOG=$LOGS/$name.log STAGE_END=$((start + budget)) STAGE_RC=0 STAGE_TIMED_OUT=0
  "stage_${name//-/_}"
  local status=ok
  if [ "$STAGE_TIMED_OUT" = 1 ]; then
    status=TIMEOUT
  elif [ "$STAGE_RC" -ne 0 ]; then
    status="FAIL (exit $STAGE_RC)"
  fi
  record "$name" "$status" $(($(now) - start)) "$budget"
}

run_step() {  # a stage, or lanes side by side
  local step=$1 lanes lane i pids=() t0 tmax
  if [[ $step != *"|"* ]]; then
    run_stage "$step"
    return
  fi
  IFS='|' read -ra lanes <<<"$step"
  if [ "$DRY" = 1 ]; then
    echo "PARALLEL ${step//|/ | }"
    t0=$PLAN_T tmax=$PLAN_T
    for i in "${!lanes[@]}"; do
      PLAN_T=$t0
      for s in ${lanes[$i]//,/ }; do run_stage "$s" $((i + 1)); done
      if [ "$PLAN_T" -gt "$tmax" ]; then tmax=$PLAN_T; fi
    done
    PLAN_T=$tmax
    return
  fi
  for i in "${!lanes[@]}"; do
    (for s in ${lanes[$i]//,/ }; do run_stage "$s" $((i + 1)); done) &
    pids+=($!)
  done
  wait "${pids[@]}"
}

# ---- the stages ----------------------------------------------------------------------------------------

stage_setup() {
  cmd "$STAGE_LOG" "nvidia-smi"
  if compgen -G ".whl/*.whl" >/dev/null; then
    cmd "$STAGE_LOG" "$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
--target $WORK/site .whl/*.whl" && export PYTHONPATH=$WORK/site${PYTHONPATH:+:$PYTHONPATH}
    note "then PYTHONPATH=$WORK/site for every later stage"
  else
    note "no .whl/ here: the peers the machine lacks are reported missing by the benchmarks"
  fi
  cmd "$STAGE_LOG" "env_info > $LOGS/env.txt"
}

stage_build() {
  cmd "$STAGE_LOG" "env TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 LOSSEXT_FORCE_CUDA=1 \
$PY setup.py build_ext --inplace" || return
  cmd "$STAGE_LOG" "check_cuda_build 9.0 > $LOGS/build_info.txt" && [ "$DRY" = 0 ] && touch "$LOGS/.cuda_build_ok"
  note "the later stages run only if this check passed"
  cmd "$STAGE_LOG" "check_sm90_only >> $LOGS/build_info.txt"
}

stage_tests() {
  local opts=""
  # pytest-xdist and pytest-timeout are on the GPU machine's image; used when importable.
  if "$PY" -c "import xdist" 2>/dev/null; then opts+=" -n 4"; fi
  if "$PY" -c "import pytest_timeout" 2>/dev/null; then opts+=" --timeout=120 --timeout-method=thread"; fi
  cmd "$STAGE_LOG" "env LOSSEXT_REQUIRE_CUDA=1 LOSSEXT_SLOW_TESTS=1 TORCHINDUCTOR_COMPILE_THREADS=1 \
$PY -m pytest -m cuda -v -p no:cacheprovider --durations=15 --junitxml=$LOGS/tests.xml$opts tests"
}

sanitize() {  # TOOL
  cmd "$STAGE_LOG" "compute-sanitizer --tool $1 --error-exitcode 9 --print-limit 50 $PY tools/cuda_smoke.py"
}
stage_memcheck() { sanitize memcheck; }
stage_racecheck() { sanitize racecheck; }

stage_determinism() {
  cmd "$STAGE_LOG" "$PY tools/cuda_smoke.py --determinism"
}

# Families in order of interest, then any other bench_*.py; BENCH_ONLY picks some.
bench_families() {
  local f all=() first=(cross_entropy focal segmentation box divergence image detection)
  if [ -n "${BENCH_ONLY:-}" ]; then
    echo "$BENCH_ONLY"
    return
  fi
  for f in "${first[@]}"; do [ -e "benchmarks/bench_$f.py" ] && all+=("$f"); done
  for f in benchmarks/bench_*.py; do
    f=${f#benchmarks/bench_} f=${f%.py}
    [[ " ${all[*]} " == *" $f "* ]] || all+=("$f")
  done
  echo "${all[@]}"
}

# One process per family, each merged into the same results file: a family that hangs or fails costs
# itself only, and what finished before the deadline is kept.
bench() {  # quick|full
  local flags="--min-run-time 0.3" cap=110 fam rc f kind
  if [ "$1" = full ]; then flags="--full --min-run-time 0.5" cap=200; fi
  cap=${BENCH_FAMILY_CAP:-$cap}
  if [ "$DRY" = 0 ]; then  # this kind's results of an earlier run in the same OUT would be merged into
    mkdir -p "$OUT/bench"
    for f in "$OUT"/bench/*; do
      [ -e "$f" ] || continue
      kind=full
      if [[ $f == *-quick.* ]]; then kind=quick; fi
      if [ "$kind" = "$1" ]; then rm -f "$f"; fi
    done
  fi
  if [ -n "${BENCH_ONLY:-}" ]; then
    cmd "$STAGE_LOG" "copy_earlier_results $1 $OUT/bench"
  fi
  for fam in $(bench_families); do
    CAP=$cap cmd "$STAGE_LOG" "$PY benchmarks/run.py $flags --out $OUT/bench --merge --only $fam"
    rc=$?
    [ "$DRY" = 1 ] || echo "$fam $([ $rc -eq 0 ] && echo ok || echo "exit $rc")" >>"$LOGS/$STAGE-families.txt"
  done
}
stage_bench_quick() { STAGE=bench-quick bench quick; }
stage_bench_full() { STAGE=bench-full bench full; }

stage_wheel() {
  local src=$WORK/src wheels=$WORK/wheel site=$WORK/wheel-site
  # The sources without what .gitignore names (build outputs, the carried wheels, virtual environments).
  local skip="--exclude=./.git --exclude=./build --exclude=./dist --exclude='*.egg-info' --exclude='*.so' \
--exclude=__pycache__ --exclude=./.pytest_cache --exclude=./.whl --exclude=./.gl --exclude='./.venv*' --exclude=./wheelhouse"
  cmd "$STAGE_LOG" "rm -rf $src $wheels $site && mkdir -p $src && tar $skip -cf - . | tar -xf - -C $src" || return
  cmd "$STAGE_LOG" "cd $src && env TORCH_CUDA_ARCH_LIST='8.0;9.0' MAX_JOBS=12 \
$PY -m pip wheel --no-build-isolation --no-deps -w $wheels ." || return
  # Installed into a folder of its own rather than a venv: the machine's python is itself a venv, whose
  # packages (torch) a --system-site-packages venv made from it would not see.
  cmd "$STAGE_LOG" "$PY -m pip install -q --no-index --no-deps --target $site $wheels/lossext-*.whl" || return
  cmd "$STAGE_LOG" "wheel_smoke $site"
  cmd "$STAGE_LOG" "ls -l $wheels && cp $wheels/lossext-*.whl $OUT/"
}

# ---- SUMMARY.md and the log archive ------------------------------------------------------------------

section() {  # TITLE LOG PATTERN: the lines of LOG that match PATTERN (the last 40), if any
  local lines
  lines=$(grep -E "$3" "$2" 2>/dev/null | tail -n 40)
  [ -n "$lines" ] || return 0
  printf '**%s**\n```\n%s\n```\n' "$1" "$lines"
}

write_summary() {
  local f=$OUT/SUMMARY.md name status secs budget
  {
    echo "# lossext GPU campaign: $PLAN_NAME"
    echo
    echo "Wall time $(($(now) - T0)) s of $CAMPAIGN_SECONDS s. Logs: logs.tar.gz (logs/<stage>.log)."
    echo
    [ -f "$LOGS/env.txt" ] && sed 's/^/- /' "$LOGS/env.txt" && echo
    [ -f "$LOGS/build_info.txt" ] && grep -E '^(build_info|device code|cuobjdump|ELF file|PTX file)' \
      "$LOGS/build_info.txt" | sed 's/^/- /' && echo
    echo "| stage | status | seconds | budget |"
    echo "|---|---|---:|---:|"
    while IFS=$'\t' read -r name status secs budget; do
      echo "| $name | $status | $secs | $budget |"
    done <"$LOGS/status.tsv"
    echo
    if [ -f "$LOGS/tests.log" ]; then  # counted from pytest -v's lines: meaningful after a timeout too
      echo "**tests**: $(grep -c -E ' PASSED( |$)' "$LOGS/tests.log") passed, $(grep -c -E ' FAILED( |$)' \
        "$LOGS/tests.log") failed, $(grep -c -E ' ERROR( |$)' "$LOGS/tests.log") errors so far"
      section "tests" "$LOGS/tests.log" '^(FAILED|ERROR) |^=+ .*(passed|failed|error|no tests).* in [0-9.]+s'
      echo
    fi
    section "memcheck" "$LOGS/memcheck.log" 'ERROR SUMMARY|^=+ (Error|Invalid|Program hit)'
    section "racecheck" "$LOGS/racecheck.log" 'ERROR SUMMARY|RACECHECK SUMMARY|Race reported'
    if [ -f "$LOGS/determinism.log" ]; then
      echo "**determinism**: $(grep -c 'bitwise identical' "$LOGS/determinism.log") workloads bitwise identical," \
        "$(grep -c 'DIFFERS' "$LOGS/determinism.log") differ"
      grep 'DIFFERS' "$LOGS/determinism.log" | sed 's/^/- /'
      echo
    fi
    for kind in quick full; do
      [ -f "$LOGS/bench-$kind-families.txt" ] || continue
      echo "**bench-$kind** (families): $(tr '\n' ';' <"$LOGS/bench-$kind-families.txt" | sed 's/;$//; s/;/; /g')"
      echo
      for md in "$OUT"/bench/*.md; do
        [ -f "$md" ] || continue
        [ "$kind" = quick ] && [[ $md != *-quick.md ]] && continue
        [ "$kind" = full ] && [[ $md == *-quick.md ]] && continue
        echo "bench/$(basename "$md"):"
        echo
        sed -n '1,/^Every implementation/p' "$md" | sed '$d'
      done
    done
    section "wheel" "$LOGS/wheel.log" "cuda wheel ok|lossext-.*\.whl$|Error"
    while IFS=$'\t' read -r name status secs budget; do
      case $status in ok | skipped*) continue ;; esac
      echo "**$name: $status**, the end of logs/$name.log:"
      echo '```'
      tail -n 30 "$LOGS/$name.log" 2>/dev/null
      echo '```'
    done <"$LOGS/status.tsv"
  } >"$f.tmp" && mv "$f.tmp" "$f"
}

finalize() {
  trap - EXIT INT TERM
  write_summary
  tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$LOGS"
  echo
  cat "$OUT/SUMMARY.md"
}

# ---- the plan ------------------------------------------------------------------------------------------

if [ "$DRY" = 1 ]; then
  echo "PLAN $PLAN_NAME: deadline $CAMPAIGN_SECONDS s, $RESERVE s of it kept for the summary; OUT=$OUT"
  for step in "${PLAN[@]}"; do run_step "$step"; done
  echo "FINALIZE start=$PLAN_T budget=$RESERVE: $OUT/SUMMARY.md, $OUT/logs.tar.gz"
  total=$((PLAN_T + RESERVE))
  echo "TOTAL $total s planned of $CAMPAIGN_SECONDS s"
  [ "$total" -le "$CAMPAIGN_SECONDS" ] || { echo "the plan does not fit the deadline" >&2; exit 1; }
  exit 0
fi

T0=$(now)
DEADLINE=$((T0 + CAMPAIGN_SECONDS - RESERVE))
rm -rf "$LOGS"  # an earlier run's, in a reused OUT
mkdir -p "$LOGS"
: >"$LOGS/status.tsv"
trap finalize EXIT
trap 'exit 143' INT TERM
echo "== lossext GPU campaign ($PLAN_NAME), deadline $CAMPAIGN_SECONDS s, results under $OUT"
for step in "${PLAN[@]}"; do
  run_step "$step"
  write_summary
done
if grep -q -v -P '\tok\t' "$LOGS/status.tsv"; then exit 1; fi  # anything short of all ok
