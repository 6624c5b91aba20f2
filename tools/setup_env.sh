#!/usr/bin/env bash
# Create (or reuse) the project's environment in .venv/ at the repository root.
#
# Idempotent: a stamp records a hash of everything that decides the environment
# (requirement files, pyproject.toml, this script, the Python version); when it
# matches and the key imports work, the script returns in seconds.
#
# mmcv 2.1.0 has no wheel for this torch, so it is built from its source archive
# with ops (MMCV_WITH_OPS=1). Two facts of these machines (DESIGN.md section 3):
#   * torch >= 2.6 headers need C++20, mmcv's setup.py passes -std=c++14/17;
#   * the build needs pkg_resources, so setuptools<70 is installed first.
# The built wheel is cached under $DMT_MM_CACHE (default ~/.cache/dmt_mm), keyed
# by the mmcv, torch and Python versions, because pip's cache is keyed by the
# source archive only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY_BOOT="${PYTHON:-python3}"
CACHE="${DMT_MM_CACHE:-$HOME/.cache/dmt_mm}"
MMCV_VERSION=2.1.0
TORCH_PIN="$(grep -E '^torch==' "$ROOT/requirements.txt")"
TV_PIN="$(grep -E '^torchvision==' "$ROOT/requirements.txt")"

log() { printf '[setup_env] %s\n' "$*" >&2; }

stamp_of() {
  {
    cat "$ROOT/requirements.txt" "$ROOT/requirements-test.txt" \
        "$ROOT/pyproject.toml" "$ROOT/tools/setup_env.sh"
    "$PY_BOOT" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
}

STAMP="$(stamp_of)"
# What a working environment must import (dmt_mm itself is only located, so
# a bug in the project's code is not mistaken for a broken environment).
CHECK_IMPORTS='import importlib.util, pkg_resources, mmcv._ext, mmseg, mmpretrain
assert importlib.util.find_spec("dmt_mm") is not None'
if [[ -f "$VENV/.dmt_mm_stamp" && "$(cat "$VENV/.dmt_mm_stamp")" == "$STAMP" ]] \
   && "$VENV/bin/python" -c "$CHECK_IMPORTS" 2>/dev/null; then
  log "environment up to date: $VENV"
  exit 0
fi

start=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  "$PY_BOOT" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_NO_INPUT=1

log "installing $TORCH_PIN $TV_PIN"
"${PIP[@]}" install -q "$TORCH_PIN" "$TV_PIN" 2>&1 \
  | grep -v 'is ignored: it is neither' || true
# mmcv's build, and mmengine's resolution of `mmseg::` config paths, import
# pkg_resources (gone from setuptools >= 70). torch pins a newer setuptools,
# so pip warns about the pin; torch does not need it at run time.
pin_setuptools() {
  "${PIP[@]}" install -q --no-deps 'setuptools<70' 2>&1 \
    | grep -v -e 'requires setuptools' -e 'dependency conflicts' \
              -e 'is ignored: it is neither' || true
}
"${PIP[@]}" install -q wheel ninja 2>&1 | grep -v 'is ignored: it is neither' || true
pin_setuptools

TORCH_VERSION="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
PY_TAG="$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION/torch-$TORCH_VERSION-$PY_TAG"
if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
  log "building mmcv $MMCV_VERSION with ops for torch $TORCH_VERSION (about 5 minutes on 2 cores)"
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  "${PIP[@]}" download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" \
    -d "$build" 2>&1 | grep -v 'is ignored: it is neither' || true
  tar -xzf "$build"/mmcv-"$MMCV_VERSION".tar.gz -C "$build"
  src="$build/mmcv-$MMCV_VERSION"
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$src/setup.py"
  grep -q 'c++20' "$src/setup.py" || { log "could not patch mmcv setup.py"; exit 1; }
  mkdir -p "$WHEEL_DIR"
  # Build settings only (the ops' code is unchanged): no debug info (-g0
  # after Python's -g), and a precompiled torch header shared by the units
  # that start with it (tools/mmcv_build/pch_cxx.sh as the C++ compiler).
  log "build settings: CFLAGS=-g0 CXX=tools/mmcv_build/pch_cxx.sh"
  (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" CFLAGS="${CFLAGS:-} -g0" \
     DMT_MM_REAL_CXX="${CXX:-c++}" CXX="$ROOT/tools/mmcv_build/pch_cxx.sh" \
     "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$build/out" .)
  mv "$build"/out/mmcv-*.whl "$WHEEL_DIR"/
fi
log "installing mmcv from $WHEEL_DIR"
"${PIP[@]}" install -q --no-deps "$WHEEL_DIR"/mmcv-*.whl

log "installing requirements"
"${PIP[@]}" install -q -r "$ROOT/requirements.txt" -r "$ROOT/requirements-test.txt" \
  2>&1 | grep -v 'is ignored: it is neither' || true
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT" \
  2>&1 | grep -v 'is ignored: it is neither' || true
pin_setuptools

"$VENV/bin/python" -c "$CHECK_IMPORTS"
echo "$STAMP" > "$VENV/.dmt_mm_stamp"
log "environment ready in $(( $(date +%s) - start )) s: $VENV"
