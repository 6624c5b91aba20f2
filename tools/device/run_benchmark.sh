#!/usr/bin/env bash
# The GPU measurements of issue 13, in one command of under 10 minutes.
#
#   bash tools/device/install.sh && bash tools/device/run_benchmark.sh
#
# Runs tools/analysis_tools/benchmark_dmt.py with the paper's DeepLab-v2
# ResNet-101 at VOC size (321x321 crops, batches of 1 labelled + 7 pseudo,
# labelling at 375x500 on synthetic images, 505x505 padding as in the VOC
# configs), once with AMP (fp16, the paper's setting) and once in fp32, and
# the classification chain's step (WRN-28-2, batch 16 + 496) with AMP. It
# prints the tables (images/s of the DMT and supervised steps, peak GPU
# memory, the labelling rate) and the estimate of a whole VOC 1/106 run;
# JSON copies go to $OUT (the device tool's folder) or /tmp.
#
# Environment: SITE (default /tmp/site, where install.sh installed), DEVICE
# (default cuda; DEVICE=cpu EXTRA=--tiny checks this script on a CPU),
# EXTRA (more benchmark_dmt.py arguments).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PYTHONPATH="${SITE:-/tmp/site}:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
DEST="${OUT:-/tmp}"
EXTRA="${EXTRA:-}"
BENCH=(tools/analysis_tools/benchmark_dmt.py --device "$DEVICE" --model r101)
AMP=()
[[ "$DEVICE" == cuda ]] && AMP=(--amp)
if [[ "$DEVICE" == cuda ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
fi
rc=0
start=$(date +%s)

echo "== DeepLab-v2 R101 and WRN-28-2, ${AMP[*]:-fp32} =="
# shellcheck disable=SC2086
"$PY" "${BENCH[@]}" "${AMP[@]}" --rows seg,cls,label,storage --estimate \
  --json "$DEST/benchmark_dmt_amp.json" $EXTRA || rc=1

if [[ "$DEVICE" == cuda ]]; then
  echo "== DeepLab-v2 R101, fp32 (for comparison) =="
  # shellcheck disable=SC2086
  "$PY" "${BENCH[@]}" --rows seg,label --estimate \
    --json "$DEST/benchmark_dmt_fp32.json" $EXTRA || rc=1
fi
echo "run_benchmark.sh: $(( $(date +%s) - start )) s, exit $rc"
exit $rc
