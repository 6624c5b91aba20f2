#!/usr/bin/env bash
# C++ compiler wrapper for building mmcv's ops (used as CXX by build_mmcv.sh).
#
# It changes how fast the ops compile, never what they compile to:
#   * 63 of mmcv 2.1.0's 83 CPU translation units start with
#     `#include "pytorch_cpp_helper.hpp"`, which pulls in torch's headers; parsing
#     them is most of each unit's compile time. The first such unit builds a
#     precompiled header (pytorch_cpp_helper.hpp.gch next to the header) with
#     exactly the flags of the real compile, under a lock; gcc then uses it
#     for every unit whose first include is that header. A .gch that does not
#     match the flags is ignored by gcc (it falls back to the header).
#   * everything else passes through unchanged to $DMT_MM_REAL_CXX (default c++).
set -euo pipefail
REAL_CXX="${DMT_MM_REAL_CXX:-c++}"

# Parse the compile command: `-c` is a flag (torch's ninja rule passes it
# twice), `-o` and `-MF` take a value, the unit is the .cpp argument.
src="" compiling=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -c) compiling=1 ;;
    -o|-MF) ((i += 1)) ;;
    *.cpp) src="${args[i]}" ;;
  esac
done
if (( ! compiling )) || [[ "$src" != *.cpp ]] \
   || [[ "$(grep -m1 '^#include' "$src" 2>/dev/null)" != *'"pytorch_cpp_helper.hpp"'* ]]; then
  exec "$REAL_CXX" "$@"
fi

# Locate the header the unit includes: the first include directory holding it.
header=""
for ((i = 0; i < ${#args[@]}; i++)); do
  inc=""
  case "${args[i]}" in
    -I) inc="${args[i + 1]:-}" ;;
    -I*) inc="${args[i]#-I}" ;;
  esac
  if [[ -n "$inc" && -f "$inc/pytorch_cpp_helper.hpp" ]]; then
    header="$inc/pytorch_cpp_helper.hpp"; break
  fi
done
if [[ -z "$header" ]]; then exec "$REAL_CXX" "$@"; fi

# The precompiled header's command: the unit's own flags, minus the source,
# the object and the dependency-file options.
pch_args=()
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -o|-MF) ((i += 1)) ;;
    -c|-MMD|-MD|"$src") ;;
    *) pch_args+=("${args[i]}") ;;
  esac
done
(
  flock 9
  if [[ ! -f "$header.gch" ]]; then
    echo "[pch_cxx] precompiling $(basename "$header") once for all units" >&2
    "$REAL_CXX" "${pch_args[@]}" -x c++-header "$header" -o "$header.gch.tmp.$$"
    mv -f "$header.gch.tmp.$$" "$header.gch"
  fi
) 9>"$header.lock"
exec "$REAL_CXX" -Winvalid-pch "$@"
