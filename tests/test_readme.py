"""The README's Python examples run as written (they are the API's first
documentation: an example that raises is a bug)."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    namespace = {}
    # The first block imports torch and lossext; later blocks continue it, as a reader would.
    for block in BLOCKS[: index + 1]:
        exec(compile(block, f"README.md block {index}", "exec"), namespace)
