#!/usr/bin/env bash
# The project's formatting and lint rules, checked (default) or applied (--fix):
# ruff for Python (pyproject.toml), clang-format for C++/CUDA (.clang-format).
#   tools/lint.sh [--fix] [python|cxx|all]      (default: all)
# CI checks both (`make lint`); `make format` applies them.
# Both come from PyPI at pinned versions into build/lint (never into the
# environment, so nothing there is changed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LINT=build/lint
RUFF_VERSION=0.17.5
CLANG_FORMAT_VERSION=23.1.3
export PYTHONPATH="$PWD/$LINT${PYTHONPATH:+:$PYTHONPATH}"  # clang-format's launcher imports its package
if [ ! -x "$LINT/bin/ruff" ] || [ ! -x "$LINT/bin/clang-format" ] || \
   ! "$LINT/bin/ruff" --version | grep -q "$RUFF_VERSION" || \
   ! "$LINT/bin/clang-format" --version | grep -q "$CLANG_FORMAT_VERSION"; then
  rm -rf "$LINT"
  "$PY" -m pip install --quiet --no-deps --target "$LINT" "ruff==$RUFF_VERSION" "clang-format==$CLANG_FORMAT_VERSION"
fi
mapfile -t cxx < <(git ls-files 'csrc/*.h' 'csrc/*.cpp' 'csrc/*.cu' 'csrc/*.cuh' 'tests/simt/*.h' 'tests/simt/*.cpp' \
  'tests/simt/*.cu')
fix=0
if [ "${1:-}" = "--fix" ]; then fix=1; shift; fi
what=${1:-all}
case "$what" in python|cxx|all) ;; *) echo "usage: tools/lint.sh [--fix] [python|cxx|all]" >&2; exit 2 ;; esac
if [ "$what" != cxx ]; then
  if [ $fix = 1 ]; then
    "$LINT/bin/ruff" check --fix .
    "$LINT/bin/ruff" format .
  else
    "$LINT/bin/ruff" check .
    "$LINT/bin/ruff" format --check .
  fi
fi
if [ "$what" != python ]; then
  if [ $fix = 1 ]; then
    "$LINT/bin/clang-format" -i "${cxx[@]}"
  else
    "$LINT/bin/clang-format" --dry-run -Werror "${cxx[@]}"
    echo "lint: ${#cxx[@]} C++/CUDA files are clang-formatted"
  fi
fi
