#!/usr/bin/env bash
# Syntax-checks the torch ops as the CUDA build compiles them (csrc/ops/*.cpp and csrc/cuda/*.cpp
# with LOSSEXT_WITH_CUDA) on a machine whose torch is the CPU
# build: those files cannot be built there, but g++ -fsyntax-only with torch's headers, the CUDA
# runtime headers and a stub of the one generated header the CPU wheel lacks catches what the
# GPU machine's build would reject. Runs from `make cuda-glue` and CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TI=$("$PY" -c "import torch.utils.cpp_extension as c; print(c.include_paths()[0])")
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
mkdir -p "$stub/c10/cuda/impl"
: > "$stub/c10/cuda/impl/cuda_cmake_macros.h"
rc=0
files=$(ls csrc/ops/*.cpp csrc/cuda/*.cpp 2>/dev/null)
for f in $files; do
  g++ -std=c++20 -fsyntax-only -Wall -Wextra -Werror -DLOSSEXT_WITH_CUDA -I"$stub" -isystem "$TI" \
    -isystem "$TI/torch/csrc/api/include" -isystem "$CUDA_INC" -Icsrc "$f" || { echo "FAIL $f"; rc=1; }
done
[ $rc -eq 0 ] && echo "CUDA build of the ops: $(echo $files | wc -w) files pass g++ -fsyntax-only"
exit $rc
