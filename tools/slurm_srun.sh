# Sourced by slurm_train.sh and slurm_test.sh (not run on its own).
#
#   slurm_srun PARTITION JOB_NAME SCRIPT [SCRIPT options ...]
#
# srun one Python process per GPU (mmengine's "slurm" launcher reads its
# rank from srun's environment). Environment (defaults): GPUS (8),
# GPUS_PER_NODE (GPUS, at most 8), CPUS_PER_TASK (5), SRUN_ARGS (none; split
# at spaces, e.g. SRUN_ARGS="--quotatype=auto --time=8:00:00"),
# PYTHON (python).
slurm_srun() {
  local partition=$1 job_name=$2
  local gpus=${GPUS:-8}
  local per_node=${GPUS_PER_NODE:-$((gpus < 8 ? gpus : 8))}
  local -a srun_args=()
  read -r -a srun_args <<< "${SRUN_ARGS:-}"
  PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")/..${PYTHONPATH:+:$PYTHONPATH}" \
  exec srun -p "$partition" \
    --job-name="$job_name" \
    --gres=gpu:"$per_node" \
    --ntasks="$gpus" \
    --ntasks-per-node="$per_node" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" \
    --kill-on-bad-exit=1 \
    "${srun_args[@]}" \
    "${PYTHON:-python}" -u "${@:3}"
}
