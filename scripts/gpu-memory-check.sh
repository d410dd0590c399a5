#!/usr/bin/env bash
# Peak GPU memory of the official SpaceTime configuration (2 epochs, nvidia-smi sampled every
# 100 ms; includes the CUDA context), then ETTh1 L=96 H=96 (M setting, 16 epochs) to re-check
# the published-protocol row with the build in hand. Never in CI.
# Usage: scripts/gpu-memory-check.sh STATECAST_XZ ETTH1_CSV OUT_DIR
set -uo pipefail
XZ=${1:?}; CSV=${2:?}; OUT=${3:?}
W=/tmp/memory-check; rm -rf "$W"; mkdir -p "$W" "$OUT"
xz -dc "$XZ" > "$W/statecast" && chmod +x "$W/statecast"
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits > "$W/idle_mib.txt"
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$W/mem.txt" &
SMI=$!
timeout 140 "$W/statecast" train --data "$CSV" --columns OT --split ett-hourly --model spacetime \
  --model-config scripts/gpu/reference-spacetime.json --lookback 336 --horizon 96 --batch-size 50 \
  --epochs 2 --warmup-epochs 1 --patience 100 --device cuda --out "$W/ref" > "$W/train.log" 2>&1
kill $SMI
echo "GPU memory used before: $(cat "$W/idle_mib.txt") MiB, peak during training: $(sort -n "$W/mem.txt" | tail -1) MiB"
grep -E "trained|test:" "$W/train.log"
timeout 230 "$W/statecast" eval --data "$CSV" --name ETTh1 --split ett-hourly --model spacetime --lookback 96 \
  --horizons 96 --epochs 16 --patience 3 --warmup-epochs 1 --device cuda --json "$W/etth1_96.json" > "$W/etth1.log" 2>&1
tail -4 "$W/etth1.log"; cat "$W/etth1_96.json"
rm -f "$W/statecast" "$W/ref/weights.bpk"; rm -rf "$W"/*.ckpt
tar czf "$OUT/memory.tgz" -C "$W" .
