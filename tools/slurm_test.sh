#!/usr/bin/env bash
# Testing on a Slurm cluster: srun starts one process per GPU.
#
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#       [test.py options ...]
#
# Environment (defaults): GPUS (8), GPUS_PER_NODE (GPUS, at most 8),
# CPUS_PER_TASK (5), SRUN_ARGS (none), PYTHON (python). Example, model B of
# a DMT run on 4 GPUs:
#   GPUS=4 bash tools/slurm_test.sh gpu dmt_test cfg.py final.pth --model B
set -euo pipefail

if [[ $# -lt 4 ]]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options ...]" >&2
  exit 2
fi
TOOLS_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$TOOLS_DIR/slurm_srun.sh"
slurm_srun "$1" "$2" "$TOOLS_DIR/test.py" "$3" "$4" --launcher="slurm" \
  "${@:5}"
