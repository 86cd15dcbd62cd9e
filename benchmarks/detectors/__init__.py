"""Detector loss steps, each written twice with the same inputs: as the
framework computes it (eager torch, re-implemented from the framework's own
code) and as a composition of lossext ops. bench_detector_steps.py times
them; tests/test_detector_steps.py checks that both give the same loss and
gradients, and, where the framework installs here, that the framework's
own code agrees.

Every module defines:
    shape(size) -> the size as the results table shows it
    make_inputs(size, device, dtype, seed) -> tuple of tensors; the first
        GRAD_ARGS of them require grad (what the network produced)
    framework_step(*inputs) -> scalar loss
    lossext_step(*inputs) -> scalar loss
    SIZES: {"quick": size, "full": size}
    NEWER_OPS: the lossext ops the composition calls where lossext has them
"""

import lossext


def has(op: str) -> bool:
    """Whether this lossext has the fused op: each composition calls a fused op where lossext has
    one and composes the older ops until then, and the tests hold both to the framework's values."""
    return hasattr(lossext, op)
