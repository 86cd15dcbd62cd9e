import os

import pytest
import torch

import lossext
from benchmarks import peers  # noqa: F401  (the peers' own folder on sys.path, see benchmarks/peers.py)
from tests.seeds import seed_for

CUDA = torch.cuda.is_available() and lossext.build_info()["cuda_kernels"]

# On the GPU machine the campaign sets LOSSEXT_REQUIRE_CUDA=1: a CUDA test that
# would skip there is a failure, not a silent skip.
if os.environ.get("LOSSEXT_REQUIRE_CUDA") == "1" and not CUDA:
    raise RuntimeError(
        f"LOSSEXT_REQUIRE_CUDA=1 but CUDA kernels or a CUDA device are missing: {lossext.build_info()}"
    )


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device and lossext built with CUDA")
    skip_slow = pytest.mark.skip(reason="slow; set LOSSEXT_SLOW_TESTS=1")
    slow = os.environ.get("LOSSEXT_SLOW_TESTS") == "1"
    for item in items:
        if "cuda" in item.keywords and not CUDA:
            item.add_marker(skip_cuda)
        if "slow" in item.keywords and not slow:
            item.add_marker(skip_slow)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _fresh_seed(request):
    # Fresh random inputs per test, yet reproducible from the test's id.
    torch.manual_seed(seed_for(request.node.nodeid))


def tolerances(dtype):
    """rtol/atol of a float-accumulated kernel against a float64 oracle."""
    return {
        torch.float64: dict(rtol=1e-9, atol=1e-10),
        torch.float32: dict(rtol=2e-5, atol=2e-5),
        torch.float16: dict(rtol=2e-3, atol=2e-3),
        torch.bfloat16: dict(rtol=1.6e-2, atol=1e-2),
    }[dtype]
