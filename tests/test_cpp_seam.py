"""The codes and constants that cross the Python/C++ seam (lossext/_cpp.py)
against their definitions in the C++ headers, read from the source tree."""

import pathlib
import re
from enum import IntEnum

import pytest

from lossext import _cpp

CSRC = pathlib.Path(__file__).resolve().parent.parent / "csrc"
# Every IntEnum of lossext/_cpp.py mirrors the C++ enum class of its name.
ENUMS = [
    obj
    for obj in vars(_cpp).values()
    if isinstance(obj, type) and issubclass(obj, IntEnum) and obj is not IntEnum
]


def _headers():
    return "\n".join(path.read_text() for path in sorted(CSRC.rglob("*.h")))


def _cpp_enum(name):
    """{member: value} of `enum class name : int { A = 0, ... }` in csrc."""
    found = re.findall(rf"enum\s+class\s+{name}\b[^{{]*\{{([^}}]*)\}}", _headers())
    assert len(found) == 1, f"enum class {name} defined {len(found)} times under csrc/"
    members = {}
    for item in re.sub(r"//[^\n]*", "", found[0]).split(","):
        if item.strip():
            member, value = (part.strip() for part in item.split("="))
            members[member] = int(value, 0)
    return members


def _cpp_constant(name):
    found = re.findall(rf"constexpr\s+\w+\s+{name}\s*=\s*([0-9]+)\s*;", _headers())
    assert len(found) == 1, f"constexpr {name} defined {len(found)} times under csrc/"
    return int(found[0])


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_python_enum_matches_cpp(enum):
    assert {m.name: m.value for m in enum} == _cpp_enum(enum.__name__)


def test_every_enum_is_compared():
    seam = {"RegressionKind", "BoxFmt", "BoxPairKind", "BoxLossMode", "SegActivation", "OverlapKind"}
    assert {e.__name__ for e in ENUMS} >= seam


def test_divergence_chunk_matches_cpp():
    assert _cpp.DIVERGENCE_CHUNK == _cpp_constant("kDivergenceChunk")


def test_tal_max_topk_matches_cpp():
    assert _cpp.TAL_MAX_TOPK == _cpp_constant("kTalMaxTopk")


def test_the_parser_sees_a_changed_value(tmp_path, monkeypatch):
    """The comparison can fail: a header with another value is caught."""
    monkeypatch.setitem(globals(), "CSRC", tmp_path)
    (tmp_path / "x.h").write_text(
        "enum class BoxFmt : int { XYXY = 0, XYWH = 2, CXCYWH = 1 };\n"
        "constexpr int64_t kDivergenceChunk = 8192;\n"
    )
    assert _cpp_enum("BoxFmt") != {m.name: m.value for m in _cpp.BoxFmt}
    assert _cpp_constant("kDivergenceChunk") != _cpp.DIVERGENCE_CHUNK


def test_public_names_follow_the_enums():
    from lossext.reference import box

    assert box.FMTS == ("xyxy", "xywh", "cxcywh")
    assert box.LOSS_MODES == ("iou", "giou", "diou", "ciou", "eiou", "siou")
    assert _cpp.code(_cpp.BoxLossMode, "siou") == 5
    with pytest.raises(ValueError):
        _cpp.code(_cpp.BoxFmt, "yxyx")
