"""The layout of csrc, by rule rather than by file-name pattern.

- csrc/kernels/, csrc/cpu/loops/ and tests/simt/ are torch-free: no file there
  includes a torch, ATen, c10 or pybind11 header, directly or through a project
  header it includes (quoted includes are followed transitively).
- csrc/cpu/loops/<x>.cpp is the CPU side of csrc/kernels/<x>.cu, name for name;
  the deliberate exceptions are listed below with their reason.
- csrc/ops/<x>.cpp is the torch op of csrc/kernels/<x>.cu (schemas, checks,
  params, one implementation registered for both devices).
- csrc/cpu/*.cpp are the torch adapters: a torch-free loop belongs in loops/.

Needs neither torch nor a compiler: it reads the sources.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
LOOPS = CSRC / "cpu" / "loops"
SIMT = ROOT / "tests" / "simt"

# Where the torch-free rule holds.
TORCH_FREE_DIRS = [CSRC / "kernels", LOOPS, SIMT]
SOURCE_SUFFIXES = {".h", ".cuh", ".cu", ".cpp", ".cc", ".inc"}

# Where a quoted include is looked up after the including file's own folder:
# the -I folders of setup.py, CMakeLists.txt and tests/simt/Makefile.
INCLUDE_DIRS = [CSRC, SIMT, SIMT / "emulator" / "include", SIMT / "cases"]

# Quoted includes of files the build generates (tests/simt/Makefile writes them
# under build/simt/*/gen), so they are not in the tree to be followed.
GENERATED = {"kernel_names.inc", "dev_exports.inc", "kernel_headers.inc"}

FRAMEWORK = re.compile(r"^(torch|ATen|c10|caffe2|pybind11)/|^(Python|torch/extension)\.h$")
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)

# csrc/kernels/<x>.cu without a csrc/cpu/loops/<x>.cpp, and why.
NO_CPU_LOOP = {}
# csrc/cpu/loops/<x>.cpp that mirror no kernel, and why.
SHARED_LOOPS = {
    "convert": "float16/bfloat16 <-> float conversions, used by every adapter and by the SIMT harness",
}


def includes(path):
    """(quoted, name) for each #include of PATH, comments removed."""
    text = COMMENT.sub("", path.read_text(errors="replace"))
    return [(kind == '"', name.strip()) for kind, name in INCLUDE.findall(text)]


def resolve(name, including, include_dirs):
    for folder in [including.parent, *include_dirs]:
        candidate = folder / name
        if candidate.is_file():
            return candidate.resolve()
    return None


def framework_includes(path, include_dirs=INCLUDE_DIRS, generated=GENERATED):
    """Every framework header PATH reaches, as 'a -> b -> <torch/x.h>' chains,
    plus 'unresolved' entries for quoted includes found nowhere."""
    found, seen, todo = [], set(), [(path.resolve(), [])]
    while todo:
        current, chain = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        here = chain + [rel(current)]
        for quoted, name in includes(current):
            if FRAMEWORK.search(name):
                found.append(" -> ".join(here + [f"<{name}>"]))
                continue
            target = resolve(name, current, include_dirs)
            if target is not None:
                todo.append((target, here))
            elif quoted and pathlib.PurePath(name).name not in generated:
                found.append(" -> ".join(here + [f'unresolved "{name}"']))
    return found


def rel(path):
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def sources(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES)


def stems(folder, suffix):
    return {p.stem for p in folder.glob(f"*{suffix}")}


def test_the_rule_has_files_to_check():
    # A moved or renamed folder must not leave the rule checking nothing.
    assert len(sources(CSRC / "kernels")) >= 20
    assert len(sources(LOOPS)) >= 14
    assert len(sources(SIMT)) >= 20


@pytest.mark.parametrize("folder", TORCH_FREE_DIRS, ids=lambda p: rel(p))
def test_torch_free_folders_reach_no_framework_header(folder):
    bad = {rel(p): chains for p in sources(folder) if (chains := framework_includes(p))}
    report = "\n".join(chain for chains in bad.values() for chain in chains)
    assert not bad, f"torch-free files that reach a framework header (or an include found nowhere):\n{report}"


def test_every_kernel_has_its_cpu_loop_of_the_same_name():
    kernels, loops = stems(CSRC / "kernels", ".cu"), stems(LOOPS, ".cpp")
    missing = kernels - loops - NO_CPU_LOOP.keys()
    assert not missing, f"csrc/kernels/<x>.cu without csrc/cpu/loops/<x>.cpp: {sorted(missing)}"
    stale = NO_CPU_LOOP.keys() & loops
    assert not stale, f"NO_CPU_LOOP lists families that now have a loop, drop them: {sorted(stale)}"
    assert NO_CPU_LOOP.keys() <= kernels, "NO_CPU_LOOP names a kernel that does not exist"
    orphans = loops - kernels - SHARED_LOOPS.keys()
    assert not orphans, f"csrc/cpu/loops/<x>.cpp mirroring no csrc/kernels/<x>.cu: {sorted(orphans)}"
    assert SHARED_LOOPS.keys() <= loops, "SHARED_LOOPS names a loop file that does not exist"


def test_ops_files_are_torch_ops_of_kernels():
    ops = CSRC / "ops"
    torch_free = [rel(p) for p in sorted(ops.glob("*.cpp")) if not framework_includes(p)]
    assert not torch_free, f"torch-free files among the torch ops: {torch_free}"
    orphans = stems(ops, ".cpp") - stems(CSRC / "kernels", ".cu") - {"cuda"}
    assert not orphans, f"csrc/ops/<x>.cpp mirroring no csrc/kernels/<x>.cu: {sorted(orphans)}"


def test_cpu_adapters_are_the_torch_facing_files():
    # A csrc/cpu/*.cpp that reaches no torch header is a loop in the wrong folder.
    torch_free = [rel(p) for p in sorted((CSRC / "cpu").glob("*.cpp")) if not framework_includes(p)]
    assert not torch_free, f"torch-free files among the adapters, move them to csrc/cpu/loops: {torch_free}"


def test_the_checker_follows_includes_transitively(tmp_path):
    (tmp_path / "inner.h").write_text("#pragma once\n#include <c10/util/Half.h>\n")
    (tmp_path / "middle.h").write_text('#include "inner.h"  // half\n')
    (tmp_path / "loop.cpp").write_text(
        '// #include <torch/torch.h> in a comment is fine\n#include "middle.h"\n'
    )
    (tmp_path / "clean.cpp").write_text('/* #include <ATen/ATen.h> */\n#include <cstdint>\n#include "k.h"\n')
    (tmp_path / "k.h").write_text("#pragma once\n")
    (tmp_path / "typo.cpp").write_text('#include "no_such_header.h"\n')
    (chain,) = framework_includes(tmp_path / "loop.cpp", include_dirs=[])
    assert chain.endswith("middle.h -> " + str(tmp_path / "inner.h") + " -> <c10/util/Half.h>"), chain
    assert framework_includes(tmp_path / "clean.cpp", include_dirs=[]) == []
    (unresolved,) = framework_includes(tmp_path / "typo.cpp", include_dirs=[])
    assert 'unresolved "no_such_header.h"' in unresolved
