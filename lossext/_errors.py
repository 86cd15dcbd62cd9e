"""The exception lossext raises for an invalid argument.

torch reports most bad arguments (mismatched shapes, huber_loss(delta=0), a
target of the wrong length) as RuntimeError, Python's convention is ValueError;
ArgumentError is both, so code written to catch either catches it.
"""


class ArgumentError(ValueError, RuntimeError):
    """An argument of a lossext function has an invalid value or shape; the
    message names the argument."""
