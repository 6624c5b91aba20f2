#!/usr/bin/env bash
# Build the mmcv 2.1.0 wheel with ops for the torch of PYTHON and publish it
# into OUT_DIR (verified, then renamed into place; see lib.sh). Called by
# tools/setup_env.sh, which picks OUT_DIR from the cache key.
#
#   tools/mmcv_build/build_mmcv.sh PYTHON OUT_DIR [cpu|cuda]
#
# The build settings (logged, and written to OUT_DIR/build-settings.txt):
# the -std= flags of mmcv's setup.py raised to c++20 (MMCV_STD_SED, for cxx
# and nvcc), CFLAGS += -g0, CXX = tools/mmcv_build/pch_cxx.sh, MMCV_WITH_OPS=1,
# MAX_JOBS = number of CPUs (unless set) and, for cuda, FORCE_CUDA=1. The
# ops' code is not touched.
#
# Environment: DMT_MM_MMCV_SDIST (a local mmcv-2.1.0.tar.gz, for machines
# without a package index), DMT_MM_BUILD_LOG (the full build output; default
# OUT_DIR/../build.log), CXX, CFLAGS, MAX_JOBS, TMPDIR, TORCH_CUDA_ARCH_LIST.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 2 ]] || die "usage: $0 PYTHON OUT_DIR [cpu|cuda]"
PY="$1" OUT="$2" OPS="${3:-cpu}"
[[ "$OPS" == cpu || "$OPS" == cuda ]] || die "ops must be cpu or cuda, got '$OPS'"
LOG="${DMT_MM_BUILD_LOG:-$(dirname "$OUT")/build.log}"
mkdir -p "$(dirname "$LOG")"
TMP_ROOT="${TMPDIR:-/tmp}"

# Leftovers of builds that were killed before their own clean-up ran.
for old in "$TMP_ROOT"/dmt_mm-mmcv-build.*; do
  [[ -d "$old" ]] || continue
  pid="$(cat "$old/pid" 2>/dev/null || true)"
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    log "removing the leftovers of an interrupted build: $old"
    rm -rf "$old"
  fi
done
build="$(mktemp -d "$TMP_ROOT/dmt_mm-mmcv-build.XXXXXX")"
echo $$ > "$build/pid"
trap 'rm -rf "$build"' EXIT
trap 'log "interrupted: the build is removed, nothing was cached"; exit 130' INT
trap 'log "stopped: the build is removed, nothing was cached"; exit 143' TERM

PIP=("$PY" -m pip --disable-pip-version-check)
if [[ -n "${DMT_MM_MMCV_SDIST:-}" ]]; then
  [[ -f "$DMT_MM_MMCV_SDIST" ]] || die "DMT_MM_MMCV_SDIST=$DMT_MM_MMCV_SDIST does not exist"
  cp "$DMT_MM_MMCV_SDIST" "$build/mmcv-$MMCV_VERSION.tar.gz"
else
  "${PIP[@]}" download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" \
    -d "$build" 2>&1 | grep -v 'is ignored: it is neither' || true
fi
sdist="$build/mmcv-$MMCV_VERSION.tar.gz"
[[ -f "$sdist" ]] || die "could not get the mmcv $MMCV_VERSION source archive" \
  "set DMT_MM_MMCV_SDIST=/path/to/mmcv-$MMCV_VERSION.tar.gz on a machine without a package index"
tar -xzf "$sdist" -C "$build"
src="$build/mmcv-$MMCV_VERSION"

# The C++ standard: torch >= 2.6 headers need C++20, mmcv passes c++14/17.
cp "$src/setup.py" "$build/setup.py.orig"
sed -i -E "$MMCV_STD_SED" "$src/setup.py"
if grep -qE -- '-std=c\+\+1[47]' "$src/setup.py" || ! grep -q -- '-std=c++20' "$src/setup.py"; then
  die "could not raise the -std= flags of mmcv's setup.py to c++20"
fi
changed="$( (diff "$build/setup.py.orig" "$src/setup.py" || true) | sed -n 's/^\([0-9,]*\)c.*/\1/p' | paste -sd' ')"
log "build setting: mmcv setup.py -std=c++14/17 -> -std=c++20 (cxx and nvcc; lines $changed)"

# What decides the wheel (before CFLAGS and CXX change below): the cache key.
settings="$(build_settings "$("$PY" -c 'import torch; print(torch.__version__)')" \
            "$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')" "$OPS")"
export MMCV_WITH_OPS=1 PYTHONUNBUFFERED=1
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
export CFLAGS="${CFLAGS:-} -g0"
export DMT_MM_REAL_CXX="${DMT_MM_REAL_CXX:-${CXX:-c++}}"
export CXX="$HERE/pch_cxx.sh"
if [[ "$OPS" == cuda ]]; then
  export FORCE_CUDA=1
  if [[ -z "${CUDA_HOME:-${CUDA_PATH:-}}" ]]; then
    nvcc="$(find_nvcc)"
    CUDA_HOME="$(cuda_home)"
    export CUDA_HOME
    log "CUDA_HOME=$CUDA_HOME (the toolkit of $nvcc)"
  fi
  [[ -n "${TORCH_CUDA_ARCH_LIST:-}" ]] \
    || log "TORCH_CUDA_ARCH_LIST is not set: torch builds for the visible GPU, or for every architecture of its CUDA if none is visible (slow); e.g. TORCH_CUDA_ARCH_LIST=9.0"
  ops_env="FORCE_CUDA=1"
else
  # mmcv's setup.py compiles the CUDA ops whenever torch sees a GPU; the
  # CPU wheel stays a CPU wheel on a GPU machine too.
  unset FORCE_CUDA
  export CUDA_VISIBLE_DEVICES=""
  ops_env="CUDA_VISIBLE_DEVICES= (CPU ops)"
fi
log "build settings: MMCV_WITH_OPS=1 $ops_env MAX_JOBS=$MAX_JOBS CFLAGS='$CFLAGS' CXX=tools/mmcv_build/pch_cxx.sh (real compiler: $DMT_MM_REAL_CXX)"
log "full build output: $LOG"
printf '=== mmcv %s build, %s, %s ops ===\n' "$MMCV_VERSION" "$(date -u +%FT%TZ)" "$OPS" >> "$LOG"

set +e
(cd "$src" && "${PIP[@]}" wheel -v --no-build-isolation --no-deps \
   -w "$build/out" .) 2>&1 \
  | "$PY" "$HERE/progress.py" --log "$LOG" --what "mmcv build"
status=("${PIPESTATUS[@]}")
set -e
if [[ "${status[0]}" != 0 ]]; then
  grep -E -m 20 'error|FAILED' "$LOG" | sed 's/^/  /' | cut -c1-300 >&2 || true
  die "the mmcv build failed (exit ${status[0]}); nothing was cached" \
      "full output: $LOG"
fi
whl="$(ls "$build"/out/mmcv-*.whl)"
mkdir -p "$OUT"
printf '%s\n' "$settings" > "$OUT/.build-settings.txt.tmp.$$"
mv -f "$OUT/.build-settings.txt.tmp.$$" "$OUT/build-settings.txt"
published="$(publish_wheel "$whl" "$OUT" "$PY")"
log "cached $published ($(du -h "$published" | cut -f1))"
