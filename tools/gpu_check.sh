#!/usr/bin/env bash
# make gpu-check: build sphmask._C with CUDA for this machine's GPU into a temporary folder, then run
# the checks (sphmask/utils/gpu_check.py) against that build. Uses the torch already installed.
#   tools/gpu_check.sh [--quick] [--wheels DIR] [--out DIR]
# --wheels DIR: wheels installed (no index, no deps) into the temporary folder first, e.g. spconv-triton.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
ARGS=()
WHEELS=""
OUT_DIR="$PWD/gpu_report"
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=${2:?--wheels needs a folder}; shift 2 ;;
    --quick) ARGS+=(--quick); shift ;;
    --out) OUT_DIR=$(realpath -m "${2:?--out needs a folder}"); shift 2 ;;
    *) echo "gpu-check: unknown option $1 (use --quick, --wheels DIR, --out DIR)" >&2; exit 2 ;;
  esac
done
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu-check: no CUDA device (torch.cuda.is_available() is False); nothing was checked"
  exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ -n "$WHEELS" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$TMP/site" "$WHEELS"/*.whl
fi
# Only this GPU's architecture, all cores: the build is part of the time budget.
ARCH=$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")
export TORCH_CUDA_ARCH_LIST=$ARCH MAX_JOBS=${MAX_JOBS:-$(nproc)} FORCE_CUDA=1
start=$(date +%s)
"$PY" setup.py --quiet build_ext --build-temp "$TMP/build" --build-lib "$TMP/lib" > "$TMP/build.log" 2>&1 \
  || { tail -40 "$TMP/build.log"; echo "gpu-check: FAIL building sphmask._C with CUDA"; exit 1; }
mkdir -p "$TMP/pkg"
cp -r sphmask "$TMP/pkg/" && rm -f "$TMP/pkg"/sphmask/_C*.so && cp "$TMP"/lib/sphmask/_C*.so "$TMP/pkg/sphmask/"
BUILT="sphmask._C with CUDA kernels for sm_${ARCH/./} in $(( $(date +%s) - start )) s (MAX_JOBS=$MAX_JOBS)"
echo "gpu-check: built $BUILT"
# The temporary package first, then the repository (tests/, configs/: SPHMASK_REPO); the driver
# runs from $TMP so that `python -m` does not put the checkout's sphmask/ (no CUDA build) first,
# and pytest gets the same order through its pythonpath option.
export PYTHONPATH="$TMP/site:$TMP/pkg:$PWD${PYTHONPATH:+:$PYTHONPATH}" SPHMASK_REPO=$PWD
rc=0
(cd "$TMP" && "$PY" -m sphmask.utils.gpu_check "${ARGS[@]}" --out "$OUT_DIR" --build-info "$BUILT" \
  --pytest-args "-o 'pythonpath=$TMP/site $TMP/pkg $PWD'") || rc=$?
exit $rc
