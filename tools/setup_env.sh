#!/usr/bin/env bash
# Create (or reuse) the project's environment in .venv/ at the repository root.
#
#   tools/setup_env.sh           mmcv with its CPU ops (all DMT models need)
#   tools/setup_env.sh --stack torch2.1
#                                the second tested stack (torch 2.1.2,
#                                numpy 1) in .venv-torch2.1/: the pins of
#                                requirements-torch2.1.txt replace those of
#                                requirements.txt (--stack main: the default)
#   tools/setup_env.sh --cuda    mmcv with its CUDA ops too (needs nvcc of
#                                torch's CUDA version); later runs keep them
#   tools/setup_env.sh --cpu     back to CPU ops after --cuda
#   tools/setup_env.sh --check   only check this machine: Python, C++
#                                compiler, disk space (and nvcc with --cuda)
#   tools/setup_env.sh --pins    print the stack's pins (name==version), the
#                                ones it installs, and exit
#
# Idempotent: a stamp records a hash of everything that decides the
# environment (requirement files, pyproject.toml, the set-up scripts, the
# Python version, the stack, CPU or CUDA ops); when it matches and the key
# imports work,
# the script returns in seconds.
#
# mmcv 2.1.0 (mmsegmentation 1.2.2 requires mmcv < 2.2.0) has no wheel for
# this torch, so it is compiled (tools/mmcv_build/build_mmcv.sh prints its
# progress and documents the build settings). The wheel is cached under
# $DMT_MM_CACHE (default ~/.cache/dmt_mm) keyed by everything that decides
# it (mmcv, torch and Python versions, CPU/CUDA ops, compiler, flags); pip's
# own cache is keyed by the source archive only. While the ops compile, the
# pure-Python requirements are installed alongside (DMT_MM_OVERLAP=0: after).
#
# Environment: PYTHON (default python3.11 if on PATH, else python3),
# DMT_MM_CACHE, CXX, CFLAGS, MAX_JOBS, TMPDIR, TORCH_CUDA_ARCH_LIST,
# DMT_MM_MMCV_SDIST (a local mmcv-2.1.0.tar.gz), DMT_MM_TIMINGS (a file that
# gets one "step seconds" line per step, read by .ci/run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=mmcv_build/lib.sh
source "$ROOT/tools/mmcv_build/lib.sh"
USAGE="usage: tools/setup_env.sh [--stack main|torch2.1] [--cuda | --cpu] [--check | --pins]"

OPS="" CHECK_ONLY=0 PINS_ONLY=0 STACK=main
while (( $# )); do
  case "$1" in
    --cuda) OPS=cuda ;;
    --cpu) OPS=cpu ;;
    --check) CHECK_ONLY=1 ;;
    --pins) PINS_ONLY=1 ;;
    --stack) (( $# > 1 )) || die "--stack needs a name: main or torch2.1" "$USAGE"
             STACK="$2"; shift ;;
    --stack=*) STACK="${1#--stack=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1'" "$USAGE" ;;
  esac
  shift
done
# A stack: its environment and the file whose pins replace requirements.txt's.
case "$STACK" in
  main) VENV="$ROOT/.venv" STACK_FILE="" ;;
  # torch 2.1 has no wheels for Python 3.12
  torch2.1) VENV="$ROOT/.venv-torch2.1" STACK_FILE="$ROOT/requirements-torch2.1.txt"
            PY_MAX=3.11 ;;
  *) die "unknown stack '$STACK': the tested stacks are main (.venv/) and torch2.1 (.venv-torch2.1/)" "$USAGE" ;;
esac
# The stack's pins, one name==version a line: requirements.txt with the
# stack file's pins in place of those of the same name, then
# requirements-test.txt.
stack_pins() {
  local names=""
  if [[ -n "$STACK_FILE" ]]; then
    names="$(sed -n 's/^\([A-Za-z0-9_.-]*\)==.*/\1/p' "$STACK_FILE" | paste -sd'|')"
  fi
  grep -E '^[A-Za-z0-9_.-]+==' "$ROOT/requirements.txt" \
    | { if [[ -n "$names" ]]; then grep -v -E "^($names)=="; else cat; fi; }
  if [[ -n "$STACK_FILE" ]]; then grep -E '^[A-Za-z0-9_.-]+==' "$STACK_FILE"; fi
  grep -E '^[A-Za-z0-9_.-]+==' "$ROOT/requirements-test.txt"
}
if (( PINS_ONLY )); then stack_pins; exit 0; fi
[[ -n "$OPS" ]] || OPS="$(cat "$VENV/.dmt_mm_ops" 2>/dev/null || echo cpu)"
if [[ -n "${PYTHON:-}" ]]; then PY_BOOT="$PYTHON"
elif command -v python3.11 >/dev/null 2>&1; then PY_BOOT=python3.11
else PY_BOOT=python3; fi
CACHE="${DMT_MM_CACHE:-$HOME/.cache/dmt_mm}"
TORCH_PIN="$(stack_pins | grep -E '^torch==')"
TV_PIN="$(stack_pins | grep -E '^torchvision==')"

START=$(date +%s)
STEPS=()
step_done() {  # step_done NAME SINCE
  local secs=$(( $(date +%s) - $2 ))
  [[ "$1" == setup_total ]] || STEPS+=("$1 ${secs} s")
  if [[ -n "${DMT_MM_TIMINGS:-}" ]]; then echo "$1 $secs" >> "$DMT_MM_TIMINGS"; fi
}

stamp_of() {
  {
    cat "$ROOT/requirements.txt" "$ROOT/requirements-test.txt" \
        "$ROOT/pyproject.toml" "$ROOT/tools/setup_env.sh" \
        "$ROOT"/tools/mmcv_build/*.sh ${STACK_FILE:+"$STACK_FILE"}
    "$PY_BOOT" -c 'import sys; print(sys.version)'
    echo "stack=$STACK ops=$OPS"
  } | sha256sum | cut -d' ' -f1
}
# What a working environment must import (dmt_mm itself is only located, so
# a bug in the project's code is not mistaken for a broken environment).
CHECK_IMPORTS='import importlib.util, pkg_resources, mmcv._ext, mmseg, mmpretrain
assert importlib.util.find_spec("dmt_mm") is not None'
if [[ "$OPS" == cuda ]]; then
  CHECK_IMPORTS+='
from mmcv.ops import get_compiling_cuda_version as v
assert v() != "not available", "mmcv was built without CUDA ops"'
fi
if (( ! CHECK_ONLY )) && [[ -f "$VENV/.dmt_mm_stamp" ]] \
   && command -v "$PY_BOOT" >/dev/null 2>&1 \
   && [[ "$(cat "$VENV/.dmt_mm_stamp")" == "$(stamp_of)" ]] \
   && "$VENV/bin/python" -W ignore -c "$CHECK_IMPORTS" 2>/dev/null; then
  log "environment up to date: $VENV ($OPS ops)"
  step_done setup_total "$START"
  exit 0
fi

# ------------------------------------------------------------ checks (seconds)
PY_VER="$(check_python "$PY_BOOT")"
PY_TAG="cp$(echo "$PY_VER" | cut -d. -f1,2 | tr -d .)"
[[ "$OPS" != cuda ]] || NVCC_RELEASE="$(check_nvcc)"
HAS_TORCH=0
"$VENV/bin/python" -c 'import torch' 2>/dev/null && HAS_TORCH=1
check_free_space "$VENV" $(( HAS_TORCH ? 1000 : 7000 )) \
  "the environment ($(basename "$VENV"); torch with its CUDA libraries takes about 6 GB)"
check_free_space "$CACHE" 100 "the wheel cache ($CACHE)"
BUILD_MB=$([[ "$OPS" == cuda ]] && echo 4000 || echo 1500)
# A wheel cached for this torch pin means no compiler is needed; the exact
# key is known once torch is installed, and checked again then.
if (( CHECK_ONLY )) || ! ls "$CACHE/wheels/mmcv-$MMCV_VERSION/torch-${TORCH_PIN#torch==}"*"-$PY_TAG-$OPS-"*/mmcv-*.whl.sha256 >/dev/null 2>&1; then
  check_cxx
  check_python_headers "$PY_BOOT"
  check_free_space "${TMPDIR:-/tmp}" "$BUILD_MB" \
    "the mmcv build in ${TMPDIR:-/tmp} (sources, objects, a 450 MB precompiled header)"
fi
if (( CHECK_ONLY )); then
  log "this machine can run the set-up of stack $STACK: Python $PY_VER ($PY_BOOT), C++ compiler ${CXX:-c++}${NVCC_RELEASE:+, nvcc $NVCC_RELEASE}, disk space ok"
  exit 0
fi

# ---------------------------------------------------------------- the venv
if [[ -e "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c "import pip, sys
sys.exit(sys.version_info[:2] != tuple(map(int, '$PY_VER'.split('.')[:2])))" 2>/dev/null; then
  log "$VENV is broken (an interrupted set-up?) or uses another Python: recreating it"
  "$PY_BOOT" -m venv --clear "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with Python $PY_VER"
  "$PY_BOOT" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
export PIP_NO_INPUT=1
quiet() { grep -v -e 'is ignored: it is neither' -e 'requires setuptools' \
                  -e 'dependency conflicts' || true; }
# mmcv's build and mmengine's `mmseg::` config paths import pkg_resources
# (gone from setuptools >= 70); torch pins a newer setuptools, so pip warns
# about the pin; torch does not need it at run time.
pin_setuptools() { "${PIP[@]}" install -q --no-deps 'setuptools<70' 2>&1 | quiet; }

t=$(date +%s)
log "installing $TORCH_PIN $TV_PIN (stack $STACK, $VENV)"
# the stack's other pins constrain what torchvision pulls in (numpy)
"${PIP[@]}" install -q "$TORCH_PIN" "$TV_PIN" \
  -c <(stack_pins | grep -v -E '^(torch|torchvision)==') 2>&1 | quiet
"${PIP[@]}" install -q wheel ninja 2>&1 | quiet
pin_setuptools
step_done torch "$t"
TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__)')"
if [[ "$OPS" == cuda ]]; then
  TORCH_CUDA="$("$PY" -c 'import torch; print(torch.version.cuda or "")')"
  [[ -n "$TORCH_CUDA" ]] || die "--cuda: torch $TORCH_VERSION is a CPU build; CUDA ops need a CUDA build of torch"
  [[ "${TORCH_CUDA%%.*}" == "${NVCC_RELEASE%%.*}" ]] \
    || die "--cuda: nvcc is CUDA $NVCC_RELEASE but torch $TORCH_VERSION was built with CUDA $TORCH_CUDA" \
           "point CUDA_HOME at a CUDA $TORCH_CUDA toolkit"
fi

# ------------------------------------------------- mmcv (cached or compiled)
KEY="$(wheel_key "$TORCH_VERSION" "$PY_TAG" "$OPS")"
WHEEL_DIR="$CACHE/wheels/$KEY"
mkdir -p "$WHEEL_DIR"
exec 8>"$WHEEL_DIR.lock"
if ! flock -n 8; then
  log "waiting for another set-up that is building the same wheel"
  flock 8
fi
clean_stale "$WHEEL_DIR"
REQS="$(mktemp)" BG_STATE="$(mktemp)" BG_PID="" PIP_PID_FILE="$(mktemp)"
cleanup() {
  if [[ -n "$BG_PID" ]] && kill -0 "$BG_PID" 2>/dev/null; then
    echo failed > "$BG_STATE"
    kill "$(cat "$PIP_PID_FILE" 2>/dev/null)" 2>/dev/null || true
    wait "$BG_PID" 2>/dev/null || true
  fi
  rm -f "$REQS" "$BG_STATE" "$PIP_PID_FILE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
stack_pins | grep -v -E '^(torch|torchvision|mmcv)==' > "$REQS"
if WHEEL="$(cached_wheel "$WHEEL_DIR" "$PY")"; then
  log "mmcv $MMCV_VERSION ($OPS ops) from the cache: $WHEEL"
  step_done mmcv_build "$(date +%s)"
else
  check_cxx
  check_python_headers "$PY"
  check_free_space "${TMPDIR:-/tmp}" "$BUILD_MB" "the mmcv build in ${TMPDIR:-/tmp}"
  # one log per wheel key: set-ups of two stacks may build at the same time
  LOG_DIR="$CACHE/logs/$(basename "$KEY")"
  LOG="$LOG_DIR/mmcv-$MMCV_VERSION-build.log"
  mkdir -p "$LOG_DIR"
  : > "$LOG"
  if [[ "${DMT_MM_OVERLAP:-1}" == 1 ]]; then
    # The pure-Python requirements go in while the ops compile, once the
    # build's Python has imported what it needs (torch, setuptools): the
    # first unit compiles alone while the precompiled header is built.
    (
      until grep -qs "building 'mmcv._ext' extension" "$LOG" || [[ -s "$BG_STATE" ]]; do
        sleep 1
      done
      [[ "$(cat "$BG_STATE")" != failed ]] || exit 0
      t=$(date +%s)
      "${PIP[@]}" install -q -r "$REQS" -c <(echo 'setuptools<70') \
        > "$LOG_DIR/requirements.log" 2>&1 &
      echo $! > "$PIP_PID_FILE"
      wait $! || { echo "pip failed, see $LOG_DIR/requirements.log" > "$BG_STATE"; exit 1; }
      echo "$(( $(date +%s) - t ))" > "$BG_STATE"
    ) &
    BG_PID=$!
  fi
  t=$(date +%s)
  log "compiling mmcv $MMCV_VERSION with $OPS ops for torch $TORCH_VERSION (the one slow step)"
  DMT_MM_BUILD_LOG="$LOG" bash "$ROOT/tools/mmcv_build/build_mmcv.sh" "$PY" "$WHEEL_DIR" "$OPS"
  WHEEL="$(cached_wheel "$WHEEL_DIR" "$PY")" || die "the built wheel is not in $WHEEL_DIR"
  step_done mmcv_build "$t"
fi
flock -u 8

t=$(date +%s)
if [[ -n "$BG_PID" ]]; then
  [[ -s "$BG_STATE" ]] || echo done > "$BG_STATE"  # build over, start now
  wait "$BG_PID" || die "installing the requirements failed: $(cat "$BG_STATE")"
  BG_PID=""
  log "requirements installed alongside the build in $(cat "$BG_STATE") s"
  STEPS+=("requirements alongside the build $(cat "$BG_STATE") s")
  if [[ -n "${DMT_MM_TIMINGS:-}" ]]; then
    echo "requirements_alongside_build $(cat "$BG_STATE")" >> "$DMT_MM_TIMINGS"
  fi
fi
log "installing mmcv and the requirements"
"${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL" 2>&1 | quiet
"${PIP[@]}" install -q -r <(stack_pins) 2>&1 | quiet
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT" 2>&1 | quiet
pin_setuptools
step_done requirements "$t"

"$PY" -W ignore::DeprecationWarning -c "$CHECK_IMPORTS" \
  || die "the environment in $VENV fails its import check (the error is above)" \
         "mmcv._ext, mmseg, mmpretrain and pkg_resources must import and dmt_mm must be installed"
echo "$OPS" > "$VENV/.dmt_mm_ops"
stamp_of > "$VENV/.dmt_mm_stamp"
step_done setup_total "$START"
log "environment ready in $(( $(date +%s) - START )) s: $VENV ($OPS ops; $(IFS=,; echo "${STEPS[*]}" | sed 's/,/, /g'))"
