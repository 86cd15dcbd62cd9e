"""python -m lossext: print how lossext was built."""

from lossext import build_info

if __name__ == "__main__":
    width = max(len(k) for k in build_info())
    for key, value in build_info().items():
        print(f"{key:<{width}}  {value}")
