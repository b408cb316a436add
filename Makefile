# Two commands for users: `make demo` and `make test`. Both set up .venv (once), build the
# compiled ops (incrementally), then run. Override TORCH_SPEC for another torch build, e.g.
#   make test TORCH_SPEC="torch==2.14.1"
PYTHON_BOOT ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
STAMP := $(VENV)/.sphmask-deps

.PHONY: venv build test demo bench cuda-check gpu-check clean

venv: $(STAMP)

$(STAMP): requirements.txt Makefile
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23"
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -c "import site, sys; open(site.getsitepackages()[0] + '/sphmask-dev.pth', 'w').write('$(CURDIR)\n')"
	touch $@

build: $(STAMP)
	$(PY) setup.py --quiet build_ext --inplace

test: build
	OMP_NUM_THREADS=2 $(PY) -m pytest -q $(PYTEST_ARGS)

demo: build
	$(PY) tools/demo.py --out demo_out

bench: build
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) bench/ops.py --write docs/benchmarks.md

cuda-check: $(STAMP)
	PYTHON=$(PY) bash tools/cuda_check.sh

# On a machine with an NVIDIA GPU and a CUDA torch (no venv, no network): GPU_CHECK_ARGS="--quick"
# or "--wheels DIR" (docs/gpu.md).
GPU_CHECK_ARGS ?=
gpu-check:
	bash tools/gpu_check.sh $(GPU_CHECK_ARGS)

clean:
	rm -rf build sphmask/*.so .cache
