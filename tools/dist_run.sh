# Sourced by dist_train.sh and dist_test.sh (not run on its own).
#
#   dist_run NPROC SCRIPT [SCRIPT options ...]
#
# torchrun (torch.distributed.run) with NPROC processes on this node.
# Environment (defaults): NNODES (1), NODE_RANK (0), PORT (29500),
# MASTER_ADDR (127.0.0.1), PYTHON (python).
dist_run() {
  PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")/..${PYTHONPATH:+:$PYTHONPATH}" \
  exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$1" \
    --master_port="${PORT:-29500}" \
    "${@:2}"
}
