# Shared by tools/setup_env.sh and tools/mmcv_build/build_mmcv.sh (sourced,
# not run): checks of the machine with errors that say what to do, the mmcv
# build settings, and the wheel cache (atomic publish, validation).
#
# Everything here changes how mmcv 2.1.0 is built, never its code:
#   * MMCV_STD_SED raises the -std=c++14/17 flags of its setup.py to c++20
#     (cxx and nvcc), because torch >= 2.6 headers need C++20;
#   * CFLAGS gets -g0 (no debug info: about 3x faster compiles, a 1.4 MB
#     instead of a 32 MB wheel);
#   * CXX is tools/mmcv_build/pch_cxx.sh (a precompiled torch header).
# A user can build it the standard way instead (README, "Manual install").

# The sed expression the README's manual install shows (a test checks both).
MMCV_STD_SED='s/-std=c\+\+1[47]/-std=c++20/g'
MMCV_VERSION=2.1.0
# Python versions setup_env.sh accepts: torch 2.14 needs >= 3.10; the pinned
# stack is tested on 3.11 only.
PY_MIN=3.10
PY_MAX=3.12
MMCV_BUILD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[setup_env] %s\n' "$*" >&2; }
die() {
  printf '[setup_env] ERROR: %s\n' "$1" >&2
  shift
  local line
  for line in "$@"; do printf '[setup_env]   %s\n' "$line" >&2; done
  exit 1
}

# check_python PY: PY runs, is in [PY_MIN, PY_MAX] and can create venvs.
check_python() {
  local py="$1" ver
  command -v "$py" >/dev/null 2>&1 \
    || die "no Python interpreter '$py'" \
           "install Python $PY_MIN-$PY_MAX (3.11 is tested) or set PYTHON=/path/to/python3.11"
  ver="$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)" \
    || die "'$py' does not run" "set PYTHON=/path/to/python3.11"
  if ! version_in_range "$ver" "$PY_MIN" "$PY_MAX" \
     && [[ "${DMT_MM_ANY_PYTHON:-0}" != 1 ]]; then
    die "Python $ver ($py) is not supported: the set-up needs Python $PY_MIN to $PY_MAX (the pinned stack is tested on 3.11)" \
        "install Python 3.11 and run: PYTHON=python3.11 $0" \
        "(DMT_MM_ANY_PYTHON=1 tries anyway, untested)"
  fi
  "$py" -c 'import venv, ensurepip' 2>/dev/null \
    || die "Python $ver ($py) cannot create virtual environments (no venv/ensurepip module)" \
           "on Debian/Ubuntu: apt-get install python${ver%.*}-venv"
  echo "$ver"
}

# version_in_range X.Y.Z MIN MAX: compares major.minor only.
version_in_range() {
  local v="${1%.*}"
  [[ "$(printf '%s\n%s\n' "$2" "$v" | sort -V | head -1)" == "$2" \
     && "$(printf '%s\n%s\n' "$v" "$3" | sort -V | tail -1)" == "$3" ]]
}

# check_python_headers PY: Python.h, which every extension build includes.
check_python_headers() {
  "$1" -c 'import os, sysconfig, sys
sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || die "no Python.h for $("$1" -c 'import sys; print(sys.executable)'): mmcv's ops cannot be compiled" \
           "on Debian/Ubuntu: apt-get install python$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev"
}

# check_cxx: a C++ compiler that accepts -std=c++20 (torch >= 2.6 headers).
check_cxx() {
  local cxx="${DMT_MM_REAL_CXX:-${CXX:-c++}}" out
  command -v "$cxx" >/dev/null 2>&1 \
    || die "no C++ compiler ('$cxx' is not on PATH): mmcv $MMCV_VERSION has no wheel for this torch and is compiled here" \
           "on Debian/Ubuntu: apt-get install g++ (GCC 10 or newer); or set CXX=/path/to/g++"
  if ! out="$(printf '#include <vector>\n#include <concepts>\nint main() { std::vector<int> v; return static_cast<int>(v.size()); }\n' \
              | "$cxx" -std=c++20 -x c++ - -o /dev/null 2>&1)"; then
    die "the C++ compiler '$cxx' cannot compile C++20, which torch's headers need" \
        "install GCC 10 or newer (or set CXX=/path/to/g++); compiler said:" \
        "$(printf '%s' "$out" | head -3)"
  fi
}

# find_nvcc: prints nvcc's path the way torch looks for it (CUDA_HOME or
# CUDA_PATH, else nvcc on PATH, else /usr/local/cuda).
find_nvcc() {
  local home="${CUDA_HOME:-${CUDA_PATH:-}}"
  if [[ -n "$home" ]]; then
    if [[ -x "$home/bin/nvcc" ]]; then echo "$home/bin/nvcc"; fi
  elif command -v nvcc >/dev/null 2>&1; then
    command -v nvcc
  elif [[ -x /usr/local/cuda/bin/nvcc ]]; then
    echo /usr/local/cuda/bin/nvcc
  fi
}

# nvcc_release: nvcc's CUDA release, e.g. 13.0 (empty without nvcc).
nvcc_release() {
  local nvcc
  nvcc="$(find_nvcc)"
  [[ -n "$nvcc" ]] || return 0
  "$nvcc" --version | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p' | head -1
}

# cuda_home: the toolkit directory of the nvcc find_nvcc finds, as nvcc
# itself reports it (nvcc may be a wrapper script outside the toolkit, where
# torch would look for the CUDA libraries next to it and not find them).
cuda_home() {
  local nvcc top
  nvcc="$(find_nvcc)"
  [[ -n "$nvcc" ]] || return 0
  top="$("$nvcc" --dryrun -x cu -c /dev/null -o /dev/null 2>&1 \
         | sed -n 's/^#\$ TOP=//p' | head -1)"
  if [[ -n "$top" && -d "$top" ]]; then (cd "$top" && pwd -P)
  else dirname "$(dirname "$nvcc")"; fi
}

# check_nvcc: for --cuda; prints nvcc's CUDA release, e.g. 13.0.
check_nvcc() {
  local nvcc
  nvcc="$(find_nvcc)"
  if [[ -z "$nvcc" ]]; then
    if [[ -n "${CUDA_HOME:-${CUDA_PATH:-}}" ]]; then
      die "--cuda: CUDA_HOME=${CUDA_HOME:-${CUDA_PATH:-}} has no bin/nvcc" \
          "point CUDA_HOME at the CUDA toolkit that matches torch's CUDA version"
    fi
    die "--cuda needs nvcc (the CUDA toolkit) to compile mmcv's CUDA ops; none on PATH or in /usr/local/cuda" \
        "install the CUDA toolkit that matches torch's CUDA version and set CUDA_HOME, or run without --cuda (CPU ops; DMT's models need none)"
  fi
  "$nvcc" --version | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p' | head -1
}

# check_free_space PATH NEED_MB WHAT: PATH (or its nearest existing parent)
# has NEED_MB free.
check_free_space() {
  local path="$1" need="$2" what="$3" free
  while [[ ! -e "$path" ]]; do path="$(dirname "$path")"; done
  free="$(df -Pm "$path" | awk 'NR == 2 { print $4 }')"
  if [[ -n "$free" ]] && (( free < need )); then
    die "not enough disk space for $what: $free MB free on $(df -P "$path" | awk 'NR == 2 { print $6 }') ($path), $need MB needed" \
        "free some space, or point it elsewhere (TMPDIR for the build, DMT_MM_CACHE for the wheel cache)"
  fi
}

# build_settings TORCH_VERSION PY_TAG OPS: everything that decides the
# wheel, one per line; its hash is part of the cache key.
build_settings() {
  local torch="$1" pytag="$2" ops="$3" cxx="${DMT_MM_REAL_CXX:-${CXX:-c++}}"
  echo "mmcv=$MMCV_VERSION"
  echo "torch=$torch"
  echo "python=$pytag"
  echo "platform=$(uname -s)-$(uname -m)"
  echo "ops=$ops"
  echo "cxx=$cxx $("$cxx" -dumpfullversion -dumpversion 2>/dev/null | head -1)"
  echo "cflags=${CFLAGS:-} -g0"
  echo "std_sed=$MMCV_STD_SED"
  echo "pch_cxx=$(sha256sum "$MMCV_BUILD_DIR/pch_cxx.sh" | cut -c1-12)"
  if [[ "$ops" == cuda ]]; then
    echo "nvcc=$(nvcc_release)"
    echo "TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-}"
    echo "MMCV_CUDA_ARGS=${MMCV_CUDA_ARGS:-}"
  fi
}

# wheel_key TORCH_VERSION PY_TAG OPS: the cache directory name.
wheel_key() {
  local hash
  hash="$(build_settings "$@" | sha256sum | cut -c1-12)"
  echo "mmcv-$MMCV_VERSION/torch-$1-$2-$3-$hash"
}

# wheel_is_valid WHEEL: a complete zip whose sha256 matches WHEEL.sha256,
# which publish_wheel writes before the wheel appears under its name.
wheel_is_valid() {
  local whl="$1" py="${2:-python3}"
  [[ -f "$whl" && -f "$whl.sha256" ]] || return 1
  [[ "$(sha256sum "$whl" | cut -d' ' -f1)" == "$(cut -d' ' -f1 "$whl.sha256")" ]] \
    || return 1
  "$py" -m zipfile -t "$whl" >/dev/null 2>&1
}

# cached_wheel DIR: prints the valid wheel in DIR; removes invalid ones.
cached_wheel() {
  local dir="$1" py="${2:-python3}" whl
  for whl in "$dir"/mmcv-*.whl; do
    [[ -e "$whl" ]] || continue
    if wheel_is_valid "$whl" "$py"; then
      echo "$whl"
      return 0
    fi
    log "cached wheel $whl failed validation (interrupted or corrupt); removing it"
    rm -f "$whl" "$whl.sha256"
  done
  return 1
}

# publish_wheel SRC DIR: copy SRC into DIR under a temporary name, verify
# the copy, write its checksum, then rename it into place (atomic on one
# filesystem): an interrupted publish never leaves a wheel that is trusted.
publish_wheel() {
  local src="$1" dir="$2" py="${3:-python3}" name tmp
  name="$(basename "$src")"
  mkdir -p "$dir"
  tmp="$dir/.$name.tmp.$$"
  cp "$src" "$tmp"
  if ! "$py" -m zipfile -t "$tmp" >/dev/null 2>&1; then
    rm -f "$tmp"
    die "the built wheel $src is not a valid zip file; nothing was cached"
  fi
  printf '%s  %s\n' "$(sha256sum < "$tmp" | cut -d' ' -f1)" "$name" > "$tmp.sha256"
  mv -f "$tmp.sha256" "$dir/$name.sha256"
  mv -f "$tmp" "$dir/$name"
  echo "$dir/$name"
}

# clean_stale DIR: leftovers of interrupted publishes (call under the lock).
clean_stale() {
  rm -f "$1"/.*.tmp.* 2>/dev/null || true
}
