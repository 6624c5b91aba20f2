#!/usr/bin/env bash
# Distributed testing with torchrun (one process per GPU).
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options ...]
#
# Environment (defaults): NNODES (1), NODE_RANK (0), PORT (29500),
# MASTER_ADDR (127.0.0.1), PYTHON (python).
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py options ...]" >&2
  exit 2
fi
TOOLS_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$TOOLS_DIR/dist_run.sh"
dist_run "$3" "$TOOLS_DIR/test.py" "$1" "$2" --launcher pytorch "${@:4}"
