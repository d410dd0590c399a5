#!/usr/bin/env bash
# Profile one SpaceTime training step on the GPU (never in CI; run through the device tool with
# dist/gpu carried). Two parts:
#   1. `statecast bench step` on cuda: the step's time by stage (forward, backward, optimizer,
#      loss read-back), the official PyTorch configuration (ETTh1-sized: L=336, H=96, batch 50,
#      width 128, d=64, one encoder + closed-loop decoder), median of 20 steps;
#   2. the same steps under `ncu --clock-control none`, one row per kernel launch with its
#      device time, for `scripts/gpu-profile-summary.py` to cut into steps and sum by kernel.
#
# Usage: scripts/gpu-profile.sh OUT_DIR [WARMUP] [STEPS]
set -uo pipefail
OUT=${1:?out dir}; WARMUP=${2:-3}; STEPS=${3:-3}
BIN=/tmp/statecast
[ -x "$BIN" ] || { xz -dc dist/gpu/statecast.xz > "$BIN" && chmod +x "$BIN"; }
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
CFG=(--model spacetime --model-config scripts/gpu/reference-spacetime.json --lookback 336 --horizon 96
     --variates 1 --batch-size 50 --device cuda)

echo "== stages"
/usr/bin/time -v "$BIN" bench step "${CFG[@]}" --steps 20 --warmup 5 > "$OUT/stages.txt" 2> "$OUT/stages.time"
cat "$OUT/stages.txt"
grep -E "Maximum resident|Elapsed" "$OUT/stages.time"

echo "== kernels (ncu, $WARMUP warm-up + $STEPS steps)"
start=$(date +%s)
ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base \
  --log-file "$OUT/ncu.csv" "$BIN" bench step "${CFG[@]}" --profile-only --warmup "$WARMUP" --steps "$STEPS" \
  > "$OUT/ncu.stdout" 2>&1
echo "ncu rc=$? in $(( $(date +%s) - start )) s; $(grep -c gpu__time_duration "$OUT/ncu.csv") launches"
tail -3 "$OUT/ncu.stdout"
