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
  # kornia is a benchmark peer only; --no-deps so that it never replaces torch.
  "$PY" -c "import kornia" 2>/dev/null || "$PY" -m pip install --quiet --no-deps kornia kornia_rs || true
  # MONAI is a peer column of the segmentation benchmark. monai.losses needs
  # only numpy and torch, so it goes in with --no-deps (never a second torch),
  # and only next to a torch that is already importable.
  if "$PY" -c "import torch" 2>/dev/null && ! "$PY" -c "import monai" 2>/dev/null; then
    "$PY" -m pip install --quiet --no-deps monai || echo "bootstrap: monai not installed; the benchmark reports it missing"
  fi
fi
if [ ${#need[@]} -gt 0 ]; then
  "$PY" -m pip install --quiet "${need[@]}"
fi
