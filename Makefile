# Two commands for users: `make demo` and `make test`. Both set up .venv (once), build the
# compiled ops (incrementally), then run. Override TORCH_SPEC for another torch build, e.g.
#   make test TORCH_SPEC="torch==2.14.1"
# Usage, once set up: make segment IN="scan.ply [more files]" CKPT=model.pth [OUT=dir] [ARGS="--render"]
# runs tools/segment.py with the .venv Python (docs/segment.md).
PYTHON_BOOT ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
STAMP := $(VENV)/.sphmask-deps

.PHONY: venv build test demo segment bench cuda-check gpu-check viewer-js clean

OUT ?= segment_out
ARGS ?=
# Checked while the Makefile is read, so a forgotten IN or CKPT fails before any set-up runs.
ifneq ($(filter segment,$(MAKECMDGOALS)),)
ifeq ($(strip $(IN)),)
$(error make segment needs IN: make segment IN="scan.ply [more files]" CKPT=model.pth [OUT=dir] [ARGS="--render"])
endif
ifeq ($(strip $(CKPT)),)
$(error make segment needs CKPT: make segment IN="scan.ply [more files]" CKPT=model.pth [OUT=dir] [ARGS="--render"])
endif
endif

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

segment: build
	$(PY) tools/segment.py $(IN) --ckpt $(CKPT) --out $(OUT) $(ARGS)

bench: build
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) bench/ops.py --write docs/benchmarks.md

# Rebuild the HTML viewer's script (sphmask/viz/static/sphmask-viewer.min.js, committed) from js/viewer:
# three.js and esbuild at the versions in js/viewer/package-lock.json, from the npm registry.
viewer-js:
	cd js/viewer && npm ci --silent && npm run --silent build

cuda-check: $(STAMP)
	PYTHON=$(PY) bash tools/cuda_check.sh

# On a machine with an NVIDIA GPU and a CUDA torch (no venv, no network): GPU_CHECK_ARGS="--quick"
# or "--wheels DIR" (docs/gpu.md).
GPU_CHECK_ARGS ?=
gpu-check:
	bash tools/gpu_check.sh $(GPU_CHECK_ARGS)

clean:
	rm -rf build sphmask/*.so .cache
