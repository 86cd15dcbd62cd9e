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


ROOT = README.parent
USER_DOCS = [
    README,
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "benchmarks" / "results" / "README.md",
]
# Words about how the project was organised rather than about lossext.
NOT_FOR_USERS = re.compile(
    r"\bissues?\b|\bsessions?\b|DESIGN\.md|\bthe lead\b|\bhelpers? (?:did|had|wrote)\b"
    r"|\bprovided by the [\w ]+ work\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("doc", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_speak_to_users(doc):
    hits = [line for line in doc.read_text().splitlines() if NOT_FOR_USERS.search(line)]
    assert not hits, hits


@pytest.mark.parametrize("doc", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_link_to_files_that_exist(doc):
    text = doc.read_text()
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text) + re.findall(r"`([\w./-]+\.md)`", text)
    missing = [link for link in links if not (doc.parent / link).exists() and not (ROOT / link).exists()]
    assert not missing, missing
