"""Builds lossext._C.

The CPU kernels are always built. The CUDA kernels are built when nvcc and a
CUDA-enabled torch are both present; LOSSEXT_CPU_ONLY=1 and LOSSEXT_FORCE_CUDA=1
override that. CUDA archs default to sm_80 and sm_90 (TORCH_CUDA_ARCH_LIST wins).
Build with --no-build-isolation so the extension links against the torch that
is installed (an isolated build would fetch a different one).
"""

import glob
import os
import re
import shutil

from setuptools import find_packages, setup

try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError as err:  # pragma: no cover - a message, not a code path
    raise SystemExit(
        "lossext builds against the torch already installed: install torch first "
        "(pip install torch==2.13.0 on a CPU machine) and build with --no-build-isolation"
    ) from err

ROOT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CUDA_ARCHS = "8.0;9.0"


def read_version():
    with open(os.path.join(ROOT, "lossext", "_version.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def flag(name):
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def want_cuda():
    if flag("LOSSEXT_CPU_ONLY"):
        return False
    if flag("LOSSEXT_FORCE_CUDA"):
        return True
    has_nvcc = CUDA_HOME is not None or shutil.which("nvcc") is not None
    return torch.version.cuda is not None and has_nvcc


def sources(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


def extension():
    version = read_version()
    with_cuda = want_cuda()
    openmp = torch.backends.openmp.is_available()
    define = [("LOSSEXT_VERSION", f'"{version}"')]
    # -fno-math-errno: with errno semantics gcc keeps every sqrtf a scalar libm
    # call (it might set errno), so loops over a sqrt never vectorize; nothing
    # in lossext reads errno.
    cxx = ["-O3", "-fvisibility=hidden", "-fno-math-errno"]
    link = []
    if openmp:
        # at::parallel_for is header code: it only runs in parallel when this
        # extension itself is compiled with OpenMP.
        cxx.append("-fopenmp")
        link.append("-fopenmp")
    else:
        cxx.append("-fopenmp-simd")
    srcs = ["csrc/ops.cpp", "csrc/module.cpp"] + sources("csrc/cpu/*.cpp")
    kwargs = dict(include_dirs=[os.path.join(ROOT, "csrc")], extra_link_args=link)
    if not with_cuda:
        return CppExtension("lossext._C", srcs, define_macros=define, extra_compile_args={"cxx": cxx}, **kwargs)

    archs = os.environ.get("TORCH_CUDA_ARCH_LIST") or DEFAULT_CUDA_ARCHS
    os.environ["TORCH_CUDA_ARCH_LIST"] = archs
    define += [("LOSSEXT_WITH_CUDA", None), ("LOSSEXT_CUDA_ARCHS", f'"{archs}"')]
    nvcc = ["-O3", "-lineinfo"]
    srcs += sources("csrc/cuda/*.cpp") + sources("csrc/kernels/*.cu")
    return CUDAExtension(
        "lossext._C", srcs, define_macros=define, extra_compile_args={"cxx": cxx, "nvcc": nvcc}, **kwargs
    )


setup(
    name="lossext",
    version=read_version(),
    packages=find_packages(include=["lossext", "lossext.*"]),
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
