#!/usr/bin/env bash
# Installs what building and testing lossext needs, and nothing that is there.
# torch is pinned to the CPU build when absent: a bare `torch` would pull
# several GB of CUDA packages. An installed torch (any version, CUDA or not)
# is kept, and the extension is built against it.
set -euo pipefail
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install --quiet "torch==${LOSSEXT_TORCH_VERSION:-2.13.0}"
fi
need=()
for mod in pybind11 numpy pytest setuptools wheel; do
  "$PY" -c "import $mod" 2>/dev/null || need+=("$mod")
done
command -v ninja >/dev/null 2>&1 || "$PY" -c "import ninja" 2>/dev/null || need+=(ninja)
if [ "${1:-}" = "bench" ]; then
  "$PY" -c "import matplotlib" 2>/dev/null || need+=(matplotlib)
fi
# Peers whose own loss code the tests and benchmarks compare with, when they can be had:
# pure-Python wheels, --no-deps so they never pull a second torch. segmentation_models_pytorch's
# losses need only torch (benchmarks/peers.py loads them without its model zoo); monai.losses
# needs numpy and torch; kornia needs kornia_rs. A failure only means those comparisons report
# "missing" or skip.
if "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('segmentation_models_pytorch') is None)" \
    2>/dev/null || "$PY" -m pip install --quiet --no-deps "segmentation-models-pytorch==0.6.0" || true
  "$PY" -c "import monai" 2>/dev/null || "$PY" -m pip install --quiet --no-deps "monai==1.6.1" || true
  "$PY" -c "import kornia" 2>/dev/null || "$PY" -m pip install --quiet --no-deps "kornia==0.9.0" "kornia_rs==0.2.0" || true
fi
if [ ${#need[@]} -gt 0 ]; then
  "$PY" -m pip install --quiet "${need[@]}"
fi
