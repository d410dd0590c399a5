#!/usr/bin/env bash
# GPU acceptance run (on a CUDA machine, never in CI): unpack the binary built by
# scripts/build-gpu.sh, check CUDA against the CPU backend, train SpaceTime on the official
# PyTorch code's configuration (ETTh1, univariate OT, L=336, H=96, batch 50, width 128, d=64,
# one encoder block + closed-loop decoder), record epoch times and peak GPU memory, and score
# the GPU-trained artifact on both CUDA and the CPU backend.
#
# Usage: scripts/gpu-check.sh DATA_DIR OUT_DIR [EPOCHS]   (DATA_DIR holds ETTh1.csv)
set -uo pipefail
DATA=${1:?data dir}; OUT=${2:?out dir}; EPOCHS=${3:-5}
mkdir -p "$OUT"
BIN=/tmp/statecast
xz -dc dist/gpu/statecast.xz > "$BIN" && chmod +x "$BIN"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
echo "== devices --check cuda"
"$BIN" devices --check cuda 2>&1 | tee "$OUT/devices.txt"

echo "== reference SpaceTime (ETTh1 OT, L=336, H=96, batch 50) on cuda, $EPOCHS epochs"
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/gpu_mem.txt" &
SMI=$!
TIME=""; [ -x /usr/bin/time ] && TIME="/usr/bin/time -v"
$TIME "$BIN" train --data "$DATA/ETTh1.csv" --columns OT --split ett-hourly --model spacetime \
  --model-config scripts/gpu/reference-spacetime.json --lookback 336 --horizon 96 --batch-size 50 \
  --epochs "$EPOCHS" --warmup-epochs 1 --patience 100 --device cuda --out "$OUT/ref_gpu" 2> >(tee "$OUT/train_time.txt" >&2)
kill $SMI
grep -E "Maximum resident|Elapsed" "$OUT/train_time.txt"
echo "peak GPU memory used (MiB, whole device): $(sort -n "$OUT/gpu_mem.txt" | tail -1)"
python3 - "$OUT/ref_gpu/artifact.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
for m in a["training"]["history"]:
    print(f"epoch {m['epoch']}: {m['seconds']:.2f} s, {m['samples_per_s']:.0f} samples/s, train {m['train_loss']:.4f}, val {m['val_loss']:.4f}")
print("metrics:", json.dumps(a["metrics"]))
PY
echo "== the GPU-trained artifact scored on both backends (published drop_last convention)"
for dev in cuda cpu; do
  "$BIN" score --model "$OUT/ref_gpu" --data "$DATA/ETTh1.csv" --columns OT --split ett-hourly --device $dev
done
