"""python -m lossext: print how lossext was built; exit 1 when the compiled
kernels are missing (every loss would run its pure-PyTorch reference)."""

import sys

from lossext import build_info

if __name__ == "__main__":
    info = build_info()
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    if not info["compiled"]:
        print(f"\nerror: {info['import_error']}", file=sys.stderr)
        sys.exit(1)
