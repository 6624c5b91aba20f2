#!/usr/bin/env bash
# Training on a Slurm cluster: srun starts one process per GPU.
#
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR \
#       [train.py options ...]
#
# Environment (defaults): GPUS (8), GPUS_PER_NODE (GPUS, at most 8),
# CPUS_PER_TASK (5), SRUN_ARGS (none), PYTHON (python). Example, 16 GPUs on
# two nodes:
#   GPUS=16 bash tools/slurm_train.sh gpu dmt_voc \
#       configs/dmt/dmt_deeplabv2-r101_voc12aug-1-106.py work_dirs/voc --amp
set -euo pipefail

if [[ $# -lt 4 ]]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options ...]" >&2
  exit 2
fi
TOOLS_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$TOOLS_DIR/slurm_srun.sh"
slurm_srun "$1" "$2" "$TOOLS_DIR/train.py" "$3" --work-dir="$4" \
  --launcher="slurm" "${@:5}"
