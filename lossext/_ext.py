"""Loading the compiled kernels, and the fallback when they are missing.

A public function asks `has_kernels(device)`; when the answer is no it runs the
pure-PyTorch reference and says so once per (function, device type) with a
`LossextFallbackWarning`, never silently.
"""

from __future__ import annotations

import importlib.util
import warnings

import torch

from lossext._version import __version__

NOT_BUILT = (
    "lossext._C is not built: in the source tree run `make build`, "
    "or install with `pip install --no-build-isolation .`"
)

_C = None
_BUILD = {"version": None, "cpu": False, "cuda": False, "cuda_archs": "", "openmp": False}
_IMPORT_ERROR: str | None = None
if importlib.util.find_spec("lossext._C") is None:
    # Without this check Python reports a missing _C as a circular import of lossext.
    _IMPORT_ERROR = NOT_BUILT
else:
    try:
        from lossext import _C  # noqa: F401  (loading it registers the ops)

        _BUILD = dict(_C.build_info)
    except ImportError as err:  # built against another torch, or a missing library
        _C = None
        _IMPORT_ERROR = (
            f"lossext._C is built but does not load (rebuild it against torch {torch.__version__}): {err}"
        )

# Plain constants, so that torch.compile folds the kernel-or-reference choice.
CPU_KERNELS: bool = bool(_BUILD["cpu"])
CUDA_KERNELS: bool = bool(_BUILD["cuda"])


class LossextFallbackWarning(UserWarning):
    """A lossext function ran its pure-PyTorch reference instead of a kernel."""


def has_kernels(device: torch.device) -> bool:
    if device.type == "cpu":
        return CPU_KERNELS
    if device.type == "cuda":
        return CUDA_KERNELS
    return False


_warned: set[tuple[str, str]] = set()


def warn_fallback(name: str, device: torch.device) -> None:
    key = (name, device.type)
    if key in _warned:
        return
    _warned.add(key)
    if _C is None:
        why = f"lossext._C could not be imported ({_IMPORT_ERROR})"
    else:
        why = f"lossext was built without {device.type} kernels"
    warnings.warn(
        f"lossext.{name}: {why}; running the pure-PyTorch reference on {device.type}",
        LossextFallbackWarning,
        stacklevel=3,
    )


def build_info() -> dict:
    """How lossext was built and what it runs on."""
    return {
        "lossext": __version__,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "compiled": _C is not None,
        "cpu_kernels": CPU_KERNELS,
        "cuda_kernels": CUDA_KERNELS,
        "cuda_archs": _BUILD["cuda_archs"],
        "cuda_available": torch.cuda.is_available(),
        "openmp": bool(_BUILD["openmp"]),
        "openmp_threads": torch.get_num_threads(),
        "import_error": _IMPORT_ERROR,
    }
