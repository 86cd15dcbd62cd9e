"""Every op of torch.ops.lossext against its spec (lossext/_ops/_spec.py):
registered kernels per device, a fake kernel, torch.library.opcheck on the
spec's samples, and torch.compile(fullgraph=True) of the public function that
runs it. The ops are enumerated from the dispatcher, so an op added to
csrc/ops.cpp without a spec fails here."""

import pytest
import torch

import lossext
from lossext._ops._spec import NAMESPACE, all_specs

SPECS = all_specs()
REGISTERED = sorted(
    name.split("::", 1)[1]
    for name in torch._C._dispatch_get_all_op_names()
    if name.startswith(f"{NAMESPACE}::")
)
CUDA_BUILT = lossext.build_info()["cuda_kernels"]


def test_every_registered_op_has_one_spec_and_every_spec_an_op():
    assert len(REGISTERED) >= 23
    assert sorted(SPECS) == REGISTERED


def _has_kernel(name, key):
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"{NAMESPACE}::{name}", key)


@pytest.mark.parametrize("name", REGISTERED)
def test_cpu_fake_and_autograd_registered(name):
    spec = SPECS[name]
    assert _has_kernel(name, "CPU") == ("cpu" in spec.devices), name
    fake = torch._library.simple_registry.singleton.find(spec.qualname).fake_impl.kernel
    assert fake is spec.fake or _has_kernel(name, "Meta"), f"{name} has no fake kernel"
    assert (spec.backward is not None) == _has_kernel(name, "Autograd"), f"{name}: autograd registration"


@pytest.mark.skipif(not CUDA_BUILT, reason="lossext built without CUDA kernels")
@pytest.mark.parametrize("name", REGISTERED)
def test_cuda_kernel_registered_where_built(name):
    assert _has_kernel(name, "CUDA") == ("cuda" in SPECS[name].devices), name


def _device_params():
    for name in REGISTERED:
        yield pytest.param(name, "cpu", id=f"{name}-cpu")
        if "cuda" in SPECS[name].devices:
            yield pytest.param(name, "cuda", id=f"{name}-cuda", marks=pytest.mark.cuda)


@pytest.mark.parametrize("name, device", list(_device_params()))
def test_opcheck(name, device):
    spec = SPECS[name]
    samples = spec.samples(torch.device(device))
    assert samples, f"{name} has no sample"
    for args in samples:
        torch.library.opcheck(spec.op, args)


def _graph_ops(fn, args):
    """The ops of the FX graph that dynamo captures of fn(*args) (fullgraph),
    and the compiled result (compiled through aot_eager)."""
    seen = set()

    def backend(gm, example_inputs):
        seen.update(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return torch._dynamo.lookup_backend("aot_eager")(gm, example_inputs)

    torch._dynamo.reset()
    return seen, torch.compile(fn, backend=backend, fullgraph=True)(*args)


@pytest.mark.parametrize("name, device", [p for p in _device_params() if SPECS[p.values[0]].public])
def test_compile_public_function(name, device):
    call = SPECS[name].public(torch.device(device))
    if call is None:
        pytest.skip(f"the public API does not run {name} on {device}")
    fn, args = call
    seen, got = _graph_ops(fn, args)
    in_graph = {f"{NAMESPACE}.{name}", f"{NAMESPACE}.{name}.default"} & seen
    assert in_graph, f"{name} not in the graph: {sorted(seen)}"
    want = fn(*args)
    torch.testing.assert_close(got, want)
    wrt = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    if wrt:
        torch.testing.assert_close(torch.autograd.grad(got.sum(), wrt), torch.autograd.grad(want.sum(), wrt))


def test_every_forward_op_is_compiled_through_a_public_function():
    """Forward ops (those with autograd) name the public function that runs them."""
    missing = [name for name, spec in SPECS.items() if spec.backward is not None and spec.public is None]
    assert not missing
