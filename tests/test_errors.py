"""Bad arguments raise lossext.ArgumentError, a ValueError and a RuntimeError at
once: code written for torch (which raises RuntimeError for most of them)
catches it, and so does code that expects Python's ValueError."""

import pathlib
import re

import pytest
import torch
import torch.nn.functional as F

import lossext

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_argument_error_is_both():
    assert issubclass(lossext.ArgumentError, ValueError)
    assert issubclass(lossext.ArgumentError, RuntimeError)


# (lossext call, torch call with the same mistake or None, a word the message must contain)
CASES = {
    "mse_shape": (
        lambda: lossext.mse_loss(torch.randn(3), torch.randn(4)),
        lambda: F.mse_loss(torch.randn(3), torch.randn(4)),
        "target",
    ),
    "huber_delta0": (
        lambda: lossext.huber_loss(torch.randn(3), torch.randn(3), delta=0.0),
        lambda: F.huber_loss(torch.randn(3), torch.randn(3), delta=0.0),
        "delta",
    ),
    "smooth_l1_beta": (
        lambda: lossext.smooth_l1_loss(torch.randn(3), torch.randn(3), beta=-1.0),
        lambda: F.smooth_l1_loss(torch.randn(3), torch.randn(3), beta=-1.0),
        "beta",
    ),
    "ce_target_shape": (
        lambda: lossext.cross_entropy(torch.randn(3, 4), torch.randint(0, 4, (5,))),
        None,
        "target",
    ),
    "ce_weight_shape": (
        lambda: lossext.cross_entropy(torch.randn(3, 4), torch.randint(0, 4, (3,)), weight=torch.ones(5)),
        lambda: F.cross_entropy(torch.randn(3, 4), torch.randint(0, 4, (3,)), weight=torch.ones(5)),
        "weight",
    ),
    "focal_shape": (lambda: lossext.sigmoid_focal_loss(torch.randn(3, 4), torch.rand(3, 5)), None, "target"),
    "box_shape": (
        lambda: lossext.generalized_box_iou_loss(torch.rand(3, 4), torch.rand(3, 5)),
        None,
        "boxes",
    ),
    "dice_mode": (
        lambda: lossext.dice_loss(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4)), "nope"),
        None,
        "mode",
    ),
    "reduction": (
        lambda: lossext.l1_loss(torch.randn(3), torch.randn(3), reduction="avg"),
        None,
        "reduction",
    ),
    "bce_range": (
        lambda: lossext.binary_cross_entropy(torch.full((3,), 2.0), torch.rand(3)),
        lambda: F.binary_cross_entropy(torch.full((3,), 2.0), torch.rand(3)),
        "input",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_argument_is_caught_as_torch_catches_it(name):
    ours, theirs, word = CASES[name]
    if theirs is not None:  # the same mistake: what torch raises, lossext's error is too
        with pytest.raises(Exception) as torch_err:
            theirs()
        with pytest.raises(torch_err.type):
            ours()
    for kind in (RuntimeError, ValueError):
        with pytest.raises(kind, match=word) as err:
            ours()
        assert isinstance(err.value, lossext.ArgumentError), type(err.value)


def test_no_plain_value_error_is_raised():
    """Every argument error goes through ArgumentError (a plain ValueError
    would miss `except RuntimeError`)."""
    pattern = re.compile(r"raise ValueError\b|check_values\([^\n]*\bValueError\b")
    offenders = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in (ROOT / "lossext").rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders
