"""The codes and constants the C++ kernels and Python share, defined once on
this side. Each enum mirrors an ``enum class`` of csrc/kernels by name and
value, and each constant a ``constexpr`` there; tests/test_cpp_seam.py reads
the C++ headers and fails when the two sides differ.

The public API speaks in lower-case names ('giou', 'cxcywh'); ``code`` turns
such a name into the integer an op's schema takes."""

from enum import IntEnum

from lossext._errors import ArgumentError


class RegressionKind(IntEnum):
    """kernels/regression.h: the ``kind`` of regression_fwd/bwd."""

    SmoothL1 = 0
    Huber = 1


class BoxFmt(IntEnum):
    """kernels/box.h: the ``fmt`` of the box ops."""

    XYXY = 0
    XYWH = 1
    CXCYWH = 2


class BoxPairKind(IntEnum):
    """kernels/box.h: the ``kind`` of box_pairwise."""

    IoU = 0
    GIoU = 1
    DIoU = 2
    CIoU = 3


class BoxLossMode(IntEnum):
    """kernels/box.h: the ``mode`` of box_loss_fwd/bwd."""

    IoU = 0
    GIoU = 1
    DIoU = 2
    CIoU = 3
    EIoU = 4
    SIoU = 5


class SegActivation(IntEnum):
    """kernels/segmentation.h: the ``activation`` of seg_stats_fwd/bwd."""

    Identity = 0
    Sigmoid = 1
    Softmax = 2


class OverlapKind(IntEnum):
    """kernels/task_aligned.h: the ``overlap`` of task_aligned_assign."""

    CIoU = 0
    IoU = 1


# kTalMaxTopk (kernels/task_aligned.h): the largest topk of task_aligned_assign.
TAL_MAX_TOPK = 64


class MatchClassCost(IntEnum):
    """kernels/detr_matching.h: the ``class_cost`` of detr_matching_cost."""

    Focal = 0
    Softmax = 1


# kDivergenceChunk (kernels/divergence.h): kl_div_fwd and js_div_fwd
# return one partial sum per chunk of this many flattened elements.
DIVERGENCE_CHUNK = 16384


def names(enum: type[IntEnum]) -> tuple[str, ...]:
    """The lower-case names of an enum's members in value order ('iou', ...)."""
    return tuple(member.name.lower() for member in sorted(enum))


def code(enum: type[IntEnum], name: str) -> IntEnum:
    """The member of ``enum`` whose lower-case name is ``name``."""
    for member in enum:
        if member.name.lower() == name:
            return member
    raise ArgumentError(f"{name!r} is not one of {names(enum)}")
