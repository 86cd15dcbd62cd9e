"""Every lossext loss that claims a torch API, run on torch's own test inputs:
the OpInfo sample inputs of torch.nn.functional (op_db) and the ModuleInfo
inputs of torch.nn (module_db), values and gradients, float32 and float64.
A sample torch itself rejects is skipped; one torch accepts must give torch's
value and gradient."""

import warnings

import pytest
import torch

import lossext

pytest.importorskip("expecttest")  # torch.testing._internal needs it (tools/bootstrap.sh installs it)
from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402
from torch.testing._internal.common_modules import module_db  # noqa: E402

FUNCTIONS = {
    "nn.functional.cross_entropy": "cross_entropy",
    "nn.functional.binary_cross_entropy": "binary_cross_entropy",
    "nn.functional.binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits",
    "nn.functional.cosine_embedding_loss": "cosine_embedding_loss",
    "nn.functional.hinge_embedding_loss": "hinge_embedding_loss",
    "nn.functional.huber_loss": "huber_loss",
    "nn.functional.kl_div": "kl_div",
    "nn.functional.l1_loss": "l1_loss",
    "nn.functional.margin_ranking_loss": "margin_ranking_loss",
    "nn.functional.mse_loss": "mse_loss",
    "nn.functional.multi_margin_loss": "multi_margin_loss",
    "nn.functional.nll_loss": "nll_loss",
    "nn.functional.smooth_l1_loss": "smooth_l1_loss",
    "nn.functional.soft_margin_loss": "soft_margin_loss",
    "nn.functional.triplet_margin_loss": "triplet_margin_loss",
}
OPS = {op.name: op for op in op_db if op.name in FUNCTIONS}
MODULES = {
    m.module_cls.__name__: m
    for m in module_db
    if m.module_cls.__name__.endswith("Loss") and hasattr(lossext.nn, m.module_cls.__name__)
}
DTYPES = [torch.float32, torch.float64]


def _same_value_and_grad(ours, theirs, args, kwargs, what):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = theirs(*args, **kwargs)
    except Exception:  # noqa: BLE001 - torch rejects this sample: nothing to match
        return 0
    got = ours(*args, **kwargs)
    torch.testing.assert_close(got, want, equal_nan=True, msg=lambda m: f"{what}: {m}")
    diff = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    if diff:
        g = torch.randn_like(want)
        want_g = torch.autograd.grad(want, diff, g, allow_unused=True, materialize_grads=True)
        got_g = torch.autograd.grad(got, diff, g, allow_unused=True, materialize_grads=True)
        for a, b in zip(got_g, want_g):
            torch.testing.assert_close(a, b, equal_nan=True, msg=lambda m: f"{what} (gradient): {m}")
    return 1


def _describe(args, kwargs):
    shapes = [tuple(a.shape) if isinstance(a, torch.Tensor) else a for a in args]
    return f"args {shapes} kwargs { {k: tuple(v.shape) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()} }"


def test_every_claimed_function_has_samples():
    assert set(OPS) == set(FUNCTIONS), set(FUNCTIONS) - set(OPS)
    assert len(MODULES) >= 12, sorted(MODULES)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_opinfo_samples(name, dtype):
    op, ours = OPS[name], getattr(lossext, FUNCTIONS[name])
    compared = 0
    for sample in op.sample_inputs("cpu", dtype, requires_grad=True):
        args = (sample.input, *sample.args)
        compared += _same_value_and_grad(
            ours, op.op, args, sample.kwargs, f"{name} {_describe(args, sample.kwargs)}"
        )
    assert compared > 0


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(MODULES))
def test_moduleinfo_samples(name, dtype):
    info, ours = MODULES[name], getattr(lossext.nn, name)
    compared = 0
    for sample in info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=True, training=True):
        if sample.forward_input is None:
            continue
        c_args, c_kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        args, kwargs = sample.forward_input.args, sample.forward_input.kwargs
        try:
            theirs = info.module_cls(*c_args, **c_kwargs).to(dtype)
        except Exception:  # noqa: BLE001 - a constructor torch rejects
            continue
        mine = ours(*c_args, **c_kwargs).to(dtype)
        compared += _same_value_and_grad(
            mine, theirs, args, kwargs, f"nn.{name}({c_kwargs}) {_describe(args, kwargs)}"
        )
    assert compared > 0


# Shapes torch broadcasts that lossext once rejected.
BROADCASTS = {
    "hinge_embedding": (
        "hinge_embedding_loss",
        lambda: (torch.randn(5, 5), torch.tensor([[1.0, -1, 1, 1, -1]])),
    ),
    "hinge_embedding_input": ("hinge_embedding_loss", lambda: (torch.randn(1, 5), torch.randn(4, 5).sign())),
    "soft_margin": ("soft_margin_loss", lambda: (torch.randn(5, 5), torch.randn(1, 5).sign())),
    "margin_ranking": (
        "margin_ranking_loss",
        lambda: (torch.randn(5, 5), torch.randn(1, 5), torch.randn(5, 1).sign()),
    ),
    "cosine_embedding": (
        "cosine_embedding_loss",
        lambda: (torch.randn(5, 3), torch.randn(1, 3), torch.randn(5).sign()),
    ),
    "triplet": ("triplet_margin_loss", lambda: (torch.randn(5, 3), torch.randn(1, 3), torch.randn(5, 3))),
    "multi_margin_unbatched": ("multi_margin_loss", lambda: (torch.randn(3), torch.tensor([1]))),
}


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("case", sorted(BROADCASTS))
def test_broadcast_shapes_as_torch(case, reduction):
    name, make = BROADCASTS[case]
    args = make()
    inputs = len(args) if name == "triplet_margin_loss" else len(args) - 1  # the last is a target
    args = [
        a.double().requires_grad_() if a.is_floating_point() and i < inputs else a for i, a in enumerate(args)
    ]
    theirs = getattr(torch.nn.functional, name)
    assert _same_value_and_grad(getattr(lossext, name), theirs, args, {"reduction": reduction}, case) == 1


def test_shapes_torch_rejects_are_rejected():
    with pytest.raises(RuntimeError, match="broadcast"):
        lossext.soft_margin_loss(torch.randn(1, 5), torch.randn(3, 5).sign())  # target larger than input
    with pytest.raises(RuntimeError, match="broadcast"):
        lossext.hinge_embedding_loss(torch.randn(3), torch.randn(4).sign())
    with pytest.raises(RuntimeError, match="dimensions"):
        lossext.margin_ranking_loss(torch.randn(5, 5), torch.randn(5), torch.randn(5, 5).sign())
