#!/usr/bin/env bash
# Install dmt_mm's dependencies on a GPU machine without network.
#
#   bash tools/device/install.sh [WHEEL_DIR] [TARGET]
#
# WHEEL_DIR (default .whl at the repository root) holds what
# tools/device/make_wheels.py downloaded where pip reaches the registry: the
# pure-Python wheels the machine lacks and the mmcv 2.1.0 source archive.
# Everything is installed into TARGET (default /tmp/site) without network and
# without dependency resolution; then mmcv is built from the source archive,
# exactly as tools/setup_env.sh builds it (DESIGN.md section 3):
#   * its setup.py asks for -std=c++14/17, torch >= 2.6 needs C++20 (sed);
#   * MMCV_WITH_OPS=1 with all cores, no debug info (CFLAGS=-g0) and a
#     precompiled torch header (tools/mmcv_build/pch_cxx.sh as CXX);
#   * CPU ops only (CUDA_VISIBLE_DEVICES= for the build): DeepLab-v2 and
#     WideResNet use no mmcv CUDA op, and the CUDA ops would take most of a
#     10-minute command to compile.
# The built wheel is copied into WHEEL_DIR (and into $OUT when set, so that a
# device run brings it back): a later run that finds a wheel that imports
# skips the build. Then source nothing: run with
#   export PYTHONPATH=TARGET:<repo root>
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WHL="$(cd "${1:-$ROOT/.whl}" && pwd)"
TARGET="${2:-/tmp/site}"
PY="${PYTHON:-python3}"
MMCV_VERSION=2.1.0
log() { printf '[install] %s\n' "$*" >&2; }
start=$(date +%s)

shopt -s nullglob
wheels=("$WHL"/*.whl)
if (( ${#wheels[@]} == 0 )); then
  log "no wheels in $WHL: run tools/device/make_wheels.py where pip reaches the registry"
  exit 1
fi
log "installing ${#wheels[@]} wheels into $TARGET"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target "$TARGET" "${wheels[@]}"
export PYTHONPATH="$TARGET:$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if [[ "${FORCE_MMCV_BUILD:-0}" != 1 ]] && "$PY" -c 'import mmcv._ext' 2>/dev/null; then
  log "mmcv $MMCV_VERSION with ops imports: no build"
else
  sdist="$WHL/mmcv-$MMCV_VERSION.tar.gz"
  [[ -f "$sdist" ]] || { log "missing $sdist (make_wheels.py downloads it)"; exit 1; }
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  tar -xzf "$sdist" -C "$build"
  src="$build/mmcv-$MMCV_VERSION"
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$src/setup.py"
  grep -q 'c++20' "$src/setup.py" || { log "could not patch mmcv setup.py"; exit 1; }
  cxx="$ROOT/tools/mmcv_build/pch_cxx.sh"
  command -v flock >/dev/null || cxx="${CXX:-c++}"  # the wrapper locks with flock
  jobs="$(nproc)"
  log "building mmcv $MMCV_VERSION (CPU ops, $jobs jobs, CXX=$cxx)"
  (cd "$src" && CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 MAX_JOBS="$jobs" \
     CFLAGS="${CFLAGS:-} -g0" DMT_MM_REAL_CXX="${CXX:-c++}" CXX="$cxx" \
     "$PY" -m pip wheel -q --no-index --no-build-isolation --no-deps \
       -w "$build/out" .)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade \
    --target "$TARGET" "$build"/out/mmcv-*.whl
  cp "$build"/out/mmcv-*.whl "$WHL"/ 2>/dev/null || true
  if [[ -n "${OUT:-}" && -d "${OUT:-}" ]]; then cp "$build"/out/mmcv-*.whl "$OUT"/; fi
fi

"$PY" - <<'EOF'
import mmcv, mmcv._ext, mmengine, mmseg, mmpretrain, torch
import dmt_mm  # noqa: F401
print(f'[install] torch {torch.__version__} (cuda {torch.cuda.is_available()}), '
      f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}: ok')
EOF
log "ready in $(( $(date +%s) - start )) s; export PYTHONPATH=$TARGET:$ROOT"
