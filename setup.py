"""Builds lossext._C.

The CPU kernels are always built. The CUDA kernels are built when nvcc and a
CUDA-enabled torch are both present; LOSSEXT_CPU_ONLY=1 and LOSSEXT_FORCE_CUDA=1
override that. CUDA archs default to sm_80 and sm_90 (TORCH_CUDA_ARCH_LIST wins).
Build with --no-build-isolation so the extension links against the torch that
is installed (an isolated build would fetch a different one). The wheel requires
that torch's version, since the extension only loads into the torch it was
compiled against. The build is a release build without debug information;
LOSSEXT_DEBUG_INFO=1 keeps Python's -g.
"""

import glob
import os
import re
import shutil
import sys

from setuptools import find_packages, setup


def missing_torch_message():
    # pip's isolated build puts its environment under a pip-build-env-* folder
    # and hides the user's site-packages: torch may well be installed there.
    if any("pip-build-env-" in entry for entry in sys.path):
        return (
            "lossext builds against the torch already installed, but this is an isolated build "
            "environment, which hides it: build with `pip install --no-build-isolation .` "
            "(or `pip wheel --no-build-isolation .`)"
        )
    return (
        f"lossext builds against the torch already installed, and {sys.executable} has none: "
        "install torch first (CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu; "
        "CUDA build: the command for your CUDA version at https://pytorch.org), "
        "then `pip install --no-build-isolation .`"
    )


try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError as err:  # pragma: no cover - a message, not a code path
    raise SystemExit(missing_torch_message()) from err

ROOT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CUDA_ARCHS = "8.0;9.0"


def read_version():
    with open(os.path.join(ROOT, "lossext", "_version.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def flag(name):
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def torch_requirement():
    """The torch this build links against, as a wheel requirement. The local
    label (+cpu, +cu128) is dropped: `torch==2.13.0` accepts 2.13.0+cpu and
    2.13.0+cu128 alike, and the CPU/CUDA choice stays with whoever installs torch."""
    return f"torch=={torch.__version__.split('+')[0]}"


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
    if not flag("LOSSEXT_DEBUG_INFO"):
        # Python's sysconfig CFLAGS carry -g, which setuptools passes to every
        # compile: the extension would weigh ~30 MB of DWARF. The last -g wins.
        cxx.append("-g0")
    link = []
    if openmp:
        # at::parallel_for is header code: it only runs in parallel when this
        # extension itself is compiled with OpenMP.
        cxx.append("-fopenmp")
        link.append("-fopenmp")
    else:
        cxx.append("-fopenmp-simd")
    srcs = (
        ["csrc/ops.cpp", "csrc/module.cpp"]
        + sources("csrc/ops/*.cpp")
        + sources("csrc/cpu/*.cpp")
        + sources("csrc/cpu/loops/*.cpp")
    )
    kwargs = dict(include_dirs=[os.path.join(ROOT, "csrc")], extra_link_args=link)
    if not with_cuda:
        return CppExtension(
            "lossext._C", srcs, define_macros=define, extra_compile_args={"cxx": cxx}, **kwargs
        )

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
    install_requires=["numpy", torch_requirement()],
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
