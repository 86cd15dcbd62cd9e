#!/usr/bin/env bash
# Downloads, into .whl/, the peers that the GPU machine lacks (it has torch,
# torchvision, timm, triton and matplotlib, and no network): Liger-Kernel,
# segmentation_models_pytorch, MONAI and kornia. Run it here, then name .whl
# in the device call's `carry` (.gitignore ignores it); gpu_campaign.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  plat+=(--platform "$p")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${plat[@]}" -d .whl \
  liger-kernel==0.8.5 segmentation-models-pytorch==0.6.0 monai==1.6.1 kornia==0.9.0 kornia-rs==0.2.0
ls -la .whl
