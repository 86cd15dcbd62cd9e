#!/usr/bin/env python3
"""Every CUDA launcher csrc/kernels declares, for the SIMT build.

A launcher is a declaration `cudaError_t NAME(const PARAMS& p, cudaStream_t stream);`
in a csrc/kernels header. Writes two files that the case and export sources
include, so that a new family's launchers reach the SIMT tier with no list to
edit by hand:

  OUT_DIR/dev_exports.inc       SIMT_EXPORT(NAME, PARAMS), one line per launcher
  OUT_DIR/kernel_headers.inc    #include "kernels/<x>.h" for each header declaring one

  launchers.py SRC_DIR OUT_DIR
"""

import pathlib
import re
import sys

LAUNCHER = re.compile(r"^\s*cudaError_t\s+(\w+)\s*\(\s*const\s+(\w+)\s*&\s*\w*\s*,\s*cudaStream_t\b", re.M)


def launchers(src):
    found = []
    for header in sorted((pathlib.Path(src) / "kernels").glob("*.h")):
        for name, params in LAUNCHER.findall(header.read_text()):
            found.append((header.name, name, params))
    return found


def write_if_changed(path, text):
    # Unchanged contents keep their timestamp, so make rebuilds nothing.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main(src, out_dir):
    found = launchers(src)
    if not found:
        sys.exit(f"no CUDA launcher declared in {src}/kernels/*.h")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_if_changed(out / "dev_exports.inc", "".join(f"SIMT_EXPORT({n}, {p})\n" for _, n, p in found))
    headers = sorted({h for h, _, _ in found})
    write_if_changed(out / "kernel_headers.inc", "".join(f'#include "kernels/{h}"\n' for h in headers))


if __name__ == "__main__":
    main(*sys.argv[1:])
