# The two commands of the README:
#   make test    install what is missing, build lossext._C in place, run the test suite
#   make bench   the same setup, then the benchmark suite into build/bench-results
#                (BENCH_ARGS=--full for large sizes, BENCH_ARGS=--save to replace benchmarks/results)
# Peers the tests compare with (smp, MONAI, kornia) go into build/peers, never into the environment.
PYTHON ?= python3
MAX_JOBS ?= 2
export PYTHON MAX_JOBS

.PHONY: deps build test bench kernels cuda-glue simt lint lint-python format wheel clean

deps:
	@bash tools/bootstrap.sh

build: deps
	$(PYTHON) setup.py -q build_ext --inplace

test: build
	$(PYTHON) -m pytest -q $(PYTEST_ARGS) tests

bench: build
	@bash tools/bootstrap.sh bench
	$(PYTHON) benchmarks/run.py $(BENCH_ARGS)

# Every csrc/kernels/*.cu through nvcc for sm_80 and sm_90, no torch involved.
kernels:
	cmake -S . -B build/cmake -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build/cmake

# Every CUDA kernel executed on the CPU (tests/simt): ASan+UBSan and TSan builds,
# three thread schedules, a one-block grid, planted bugs that must be caught.
# Needs g++ and python3 only (no nvcc, no torch).
simt:
	$(MAKE) -C tests/simt -j$(MAX_JOBS) all
	$(MAKE) -C tests/simt -j$(MAX_JOBS) check

# ruff (Python) and clang-format (C++/CUDA) at pinned versions, installed into
# build/lint; `make format` applies them. CI runs `make lint`.
lint:
	bash tools/lint.sh

lint-python:
	bash tools/lint.sh python

format:
	bash tools/lint.sh --fix

# csrc/ops/*.cpp as the CUDA build compiles them, checked with g++ -fsyntax-only against the installed (CPU) torch's headers.
cuda-glue: deps
	bash tools/check_cuda_glue.sh

wheel: build
	$(PYTHON) -m pip wheel --no-build-isolation --no-deps -w dist .

clean:
	rm -rf build dist lossext/*.so
