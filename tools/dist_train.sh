#!/usr/bin/env bash
# Distributed training with torchrun (one process per GPU).
#
#   bash tools/dist_train.sh CONFIG GPUS [train.py options ...]
#
# Environment (defaults): NNODES (1), NODE_RANK (0), PORT (29500),
# MASTER_ADDR (127.0.0.1), PYTHON (python). Example, 2 nodes x 8 GPUs:
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh cfg.py 8
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG GPUS [train.py options ...]" >&2
  exit 2
fi
TOOLS_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$TOOLS_DIR/dist_run.sh"
dist_run "$2" "$TOOLS_DIR/train.py" "$1" --launcher pytorch "${@:3}"
