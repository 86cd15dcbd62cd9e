#!/usr/bin/env bash
# The GPU validation campaign, in one device call (see the device tool's README):
#   CUDA build from this checkout, build_info, the whole test suite with CUDA required,
#   compute-sanitizer memcheck + racecheck over a small run of every CUDA op, and the
#   full benchmark suite. Everything lands under $OUT (default /tmp/lossext-gpu).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lossext-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16} LOSSEXT_FORCE_CUDA=1
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
# Wheels carried in .whl (Liger-Kernel, matplotlib, ...) install into /tmp/site.
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
{ time python3 setup.py build_ext --inplace; } > "$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
python3 -m lossext | tee "$OUT/build_info.txt"
LOSSEXT_REQUIRE_CUDA=1 LOSSEXT_SLOW_TESTS=1 python3 -m pytest -q -p no:cacheprovider tests -k "not wheel" \
  2>&1 | tee "$OUT/tests.log" | tail -25
for tool in memcheck racecheck; do
  compute-sanitizer --tool "$tool" --error-exitcode 9 python3 benchmarks/cuda_smoke.py \
    > "$OUT/sanitizer-$tool.log" 2>&1
  echo "compute-sanitizer $tool: exit $? ($(grep -c 'ERROR SUMMARY: 0' "$OUT/sanitizer-$tool.log") clean summaries)"
done
python3 benchmarks/cuda_smoke.py --determinism | tee "$OUT/determinism.txt"
python3 benchmarks/run.py --full --out "$OUT" 2>&1 | tail -60
