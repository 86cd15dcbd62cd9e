#!/usr/bin/env bash
# The GPU validation campaign (issue 6). Stages, each writing under $OUT (default /tmp/lossext-gpu):
#   test      CUDA build from this checkout (sm_90), build_info, the whole test suite with CUDA required
#   sanitize  compute-sanitizer memcheck + racecheck over a small run of every CUDA op, fwd and bwd,
#             and the determinism check (same inputs twice, bitwise)
#   bench     benchmarks/run.py --full
#   wheel     a CUDA wheel (sm_80 + sm_90) installed into a fresh venv and smoke-tested
# `gpu_campaign.sh all` runs them in order. A device call is limited to 10 minutes and a session to
# 30, so plan one call per stage (the build stays warm between calls: only the first one compiles),
# e.g. `OUT=$OUT bash benchmarks/gpu_campaign.sh test`, then `sanitize`, then `bench wheel`.
# Peers the machine lacks travel as wheels: run benchmarks/fetch_gpu_wheels.sh here first and name
# .whl in the device call's carry.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lossext-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16} LOSSEXT_FORCE_CUDA=1
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi

build() {
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
  { time python3 setup.py build_ext --inplace; } > "$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
  python3 -m lossext | tee "$OUT/build_info.txt"
}

stage_test() {
  LOSSEXT_REQUIRE_CUDA=1 LOSSEXT_SLOW_TESTS=1 python3 -m pytest -q -p no:cacheprovider tests -k "not wheel" \
    2>&1 | tee "$OUT/tests.log" | tail -25
}

stage_sanitize() {
  for tool in memcheck racecheck; do
    # Bounded so that one slow tool cannot eat the whole device call.
    timeout "${SANITIZER_TIMEOUT:-200}" compute-sanitizer --tool "$tool" --error-exitcode 9 \
      python3 benchmarks/cuda_smoke.py > "$OUT/sanitizer-$tool.log" 2>&1
    echo "compute-sanitizer $tool: exit $? ($(grep -c 'ERROR SUMMARY: 0' "$OUT/sanitizer-$tool.log") clean summaries)"
  done
  python3 benchmarks/cuda_smoke.py --determinism | tee "$OUT/determinism.txt"
}

# BENCH_ONLY="focal box" runs some families and merges them into an earlier run's results
# (results/ of this checkout are copied to $OUT first), so the suite can span device calls.
stage_bench() {
  cp -n benchmarks/results/*.json "$OUT"/ 2>/dev/null
  if [ -n "${BENCH_ONLY:-}" ]; then
    python3 benchmarks/run.py --full --out "$OUT" --merge --only $BENCH_ONLY 2>&1 | tail -80
  else
    python3 benchmarks/run.py --full --out "$OUT" 2>&1 | tail -80
  fi
}

# --system-site-packages: the fresh venv sees the machine's torch (there is no network there);
# the wheel itself goes in with --no-deps from the local file.
stage_wheel() {
  rm -rf /tmp/lossext-wheel /tmp/lossext-venv
  TORCH_CUDA_ARCH_LIST="8.0;9.0" python3 -m pip wheel -q --no-build-isolation --no-deps -w /tmp/lossext-wheel . \
    > "$OUT/wheel.log" 2>&1 || { tail -40 "$OUT/wheel.log"; return 1; }
  python3 -m venv --system-site-packages /tmp/lossext-venv
  /tmp/lossext-venv/bin/python -m pip install -q --no-index --no-deps /tmp/lossext-wheel/lossext-*.whl
  (cd /tmp && /tmp/lossext-venv/bin/python - <<'PY') 2>&1 | tee -a "$OUT/wheel.log"
import torch, lossext
info = lossext.build_info(); assert info["cuda_kernels"], info; print(info)
x = torch.randn(64, 1000, device="cuda", requires_grad=True); y = torch.randint(0, 1000, (64,), device="cuda")
loss = lossext.cross_entropy(x, y); loss.backward()
torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(x, y)); print("cuda wheel ok")
PY
  ls -la /tmp/lossext-wheel >> "$OUT/wheel.log"
}

stages=("$@")
[ ${#stages[@]} -eq 0 ] || [ "${stages[0]}" = all ] && stages=(test sanitize bench wheel)
build
for s in "${stages[@]}"; do
  echo "== stage $s"
  "stage_$s"
done
