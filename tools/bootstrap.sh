#!/usr/bin/env bash
# Installs what building and testing lossext needs, and nothing that is there.
# An installed torch (any version, CUDA or not) is kept, and the extension is
# built against it. When none is installed, torch==2.13.0 is installed from the
# configured index (on Linux from PyPI: the CUDA build); LOSSEXT_TORCH_INDEX
# picks another, e.g. https://download.pytorch.org/whl/cpu for the CPU build.
set -euo pipefail
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install --quiet "torch==${LOSSEXT_TORCH_VERSION:-2.13.0}" \
    ${LOSSEXT_TORCH_INDEX:+--index-url "$LOSSEXT_TORCH_INDEX"}
fi
need=()
for mod in pybind11 numpy pytest expecttest setuptools wheel; do
  "$PY" -c "import $mod" 2>/dev/null || need+=("$mod")
done
command -v ninja >/dev/null 2>&1 || "$PY" -c "import ninja" 2>/dev/null || need+=(ninja)
if [ "${1:-}" = "bench" ]; then
  "$PY" -c "import matplotlib" 2>/dev/null || need+=(matplotlib)
fi
# Peers whose own loss code the tests and benchmarks compare with go into their own folder,
# build/peers, never into this environment: --no-deps (a peer's requirements would pull a second
# torch, and smp's model zoo is not needed), and only benchmarks/peers.py puts the folder on
# sys.path. What they import besides torch: numpy (monai, kornia) and kornia_rs (kornia, pinned
# here); segmentation_models_pytorch's losses subpackage needs only torch (benchmarks/peers.py
# loads it without the package's model zoo). A failed install only means those comparisons skip.
PEERS_DIR=${LOSSEXT_PEERS_DIR:-"$(cd "$(dirname "$0")/.." && pwd)/build/peers"}
PEER_PINS="segmentation-models-pytorch==0.6.0 monai==1.6.1 kornia==0.9.0 kornia_rs==0.2.0"
if [ "$(cat "$PEERS_DIR/.pins" 2>/dev/null)" != "$PEER_PINS" ]; then
  rm -rf "$PEERS_DIR"
  # shellcheck disable=SC2086
  if "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$PEERS_DIR" $PEER_PINS; then
    echo "$PEER_PINS" > "$PEERS_DIR/.pins"
  else
    echo "bootstrap: could not install the peers into $PEERS_DIR; the comparisons with them will skip" >&2
  fi
fi
# ultralytics (its TaskAlignedAssigner and v8DetectionLoss are what task_aligned_assign and the
# YOLOv8 loss step are tested against) in a folder of its own, build/peers-ultralytics, with what
# its package __init__ imports: opencv (headless), PyYAML, Pillow, psutil, and a torchvision wheel
# whose installed version ultralytics reads at import (never imported: benchmarks/peers.py puts the
# folder on sys.path only while importing an ultralytics module). All --no-deps: no second torch.
ULTRALYTICS_DIR=${LOSSEXT_ULTRALYTICS_DIR:-"$(cd "$(dirname "$0")/.." && pwd)/build/peers-ultralytics"}
ULTRALYTICS_PINS="ultralytics==8.4.190 opencv-python-headless pyyaml pillow psutil torchvision==0.28.0"
if [ "$(cat "$ULTRALYTICS_DIR/.pins" 2>/dev/null)" != "$ULTRALYTICS_PINS" ]; then
  rm -rf "$ULTRALYTICS_DIR"
  # shellcheck disable=SC2086
  if "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$ULTRALYTICS_DIR" \
    ${LOSSEXT_TORCH_INDEX:+--extra-index-url "$LOSSEXT_TORCH_INDEX"} $ULTRALYTICS_PINS; then
    echo "$ULTRALYTICS_PINS" > "$ULTRALYTICS_DIR/.pins"
  else
    echo "bootstrap: could not install ultralytics into $ULTRALYTICS_DIR; the comparisons with it will skip" >&2
  fi
fi
if [ ${#need[@]} -gt 0 ]; then
  "$PY" -m pip install --quiet "${need[@]}"
fi
