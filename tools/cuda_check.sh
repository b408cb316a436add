#!/usr/bin/env bash
# Compile every csrc/**/*.cu with `nvcc -c` (sm_80 and sm_90) against the headers of a CUDA build
# of torch, so CUDA kernels are checked on machines that have nvcc but no GPU and a CPU torch.
# The CPU torch wheel lacks the CUDA headers (c10/cuda/impl/cuda_cmake_macros.h) and the math
# library headers, so we take torch/include from the CUDA 13 wheel of torch 2.14.1 and the
# include/ folders of the nvidia-* wheels that torch 2.14.1 requires (cuda-toolkit 13.0.3 pins).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvcc >/dev/null 2>&1; then
  # Not a pass: nothing was compiled. Exit 0 so `make test && make cuda-check` works on a laptop,
  # but say so plainly (CI has nvcc; there this branch is never taken).
  echo "cuda-check: skipped: no nvcc on PATH, no .cu file was compiled (install the CUDA toolkit to check them)"
  exit 0
fi

PY=${PYTHON:-.venv/bin/python}
CACHE=.cache/cuda-headers
OUT=build/cuda-check
if [ ! -f "$CACHE/.complete" ]; then
  rm -rf "$CACHE"
  mkdir -p "$CACHE/wheels"
  "$PY" -m pip download --quiet --no-deps -d "$CACHE/wheels" \
    torch==2.14.1 nvidia-cublas==13.1.1.3 nvidia-cusparse==12.6.3.3 \
    nvidia-cusolver==12.0.4.66 nvidia-curand==10.4.0.35
  for whl in "$CACHE"/wheels/*.whl; do
    unzip -q -o "$whl" 'torch/include/*' 'nvidia/*/include/*' -d "$CACHE" 2>/dev/null || true
  done
  rm -rf "$CACHE/wheels"
  test -f "$CACHE/torch/include/c10/cuda/impl/cuda_cmake_macros.h"
  touch "$CACHE/.complete"
fi

INCLUDES=(-I csrc -I "$CACHE/torch/include" -I "$CACHE/torch/include/torch/csrc/api/include")
for d in "$CACHE"/nvidia/*/include; do INCLUDES+=(-I "$d"); done

mkdir -p "$OUT"
mapfile -t FILES < <(find csrc -name '*.cu' | sort)
if [ "${#FILES[@]}" -eq 0 ]; then
  echo "cuda-check: no .cu files under csrc/"
  exit 1
fi
echo "cuda-check: $(nvcc --version | tail -1)"
fail=0
for f in "${FILES[@]}"; do
  obj="$OUT/$(echo "$f" | tr '/' '_').o"
  start=$(date +%s)
  if nvcc -c "$f" -o "$obj" -std=c++20 -O3 --expt-relaxed-constexpr -DWITH_CUDA \
      -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
      -Xcompiler -fPIC "${INCLUDES[@]}"; then
    echo "cuda-check: ok   $f ($(( $(date +%s) - start )) s)"
  else
    echo "cuda-check: FAIL $f"
    fail=1
  fi
done
exit $fail
