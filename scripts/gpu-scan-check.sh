#!/usr/bin/env bash
# The fused selective-scan kernel on a CUDA device (never in CI; run through the device tool with
# dist/gpu and dist/bench carried): everything the kernel must pass (it is the default on CUDA), and the
# figures for BENCHMARKS.md, in one run. Alone on the GPU (timings).
#   1. `devices --check cuda`: every row, including the fused scan's y and six gradients against
#      the CPU (gating);
#   2. `bench scan`: fused (chunk 0) and chunked (4) at B 16, E 256, N 16, L 512 and 2048, each
#      checked against the f64 loop; then the PyTorch reference (dist/bench/scan_bench.py);
#   3. `bench step` for SiMBA with the chunked scan and with the kernel (the default);
#   4. a short ETTh1 SiMBA training with the kernel, scored on cuda and on the cpu.
# Usage: scripts/gpu-scan-check.sh DATA_DIR OUT_DIR
set -uo pipefail
DATA=${1:?data dir}; OUT=${2:?out dir}
BIN=/tmp/statecast
[ -x "$BIN" ] || { xz -dc dist/gpu/statecast.xz > "$BIN" && chmod +x "$BIN"; }
mkdir -p "$OUT"
export RUST_LOG=${RUST_LOG:-"warn,statecast=info,statecast_service=info,statecast_models=info"}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
echo "== devices --check cuda"
timeout 300 "$BIN" devices --check cuda 2>&1 | tee "$OUT/devices.txt" | tail -30
echo "== bench scan (ours)"
timeout 300 "$BIN" bench scan --device cuda --lengths 512,2048 --chunks 0,4 --repeats 5 --warmup 2 2>&1 | tee "$OUT/scan.txt"
if [ -f dist/bench/scan_bench.py ]; then
  echo "== PyTorch reference"
  (cd /tmp && timeout 200 python3 "$OLDPWD/dist/bench/scan_bench.py" --lengths 512 2048 \
     --variants chunk loop_unbind --out-json "$OUT/scan_torch.json" 2>&1 | tail -12) | tee "$OUT/scan_torch.txt"
fi
S=(bench step --model simba --lookback 96 --horizon 96 --variates 7 --batch-size 32 --steps 10 --warmup 3 --device cuda)
echo "== bench step, chunked scan"; STATECAST_SCAN=chunked timeout 120 "$BIN" "${S[@]}" 2>&1 | tail -8 | tee "$OUT/step_chunked.txt"
echo "== bench step, fused kernel"; STATECAST_SCAN=fused timeout 120 "$BIN" "${S[@]}" 2>&1 | tail -8 | tee "$OUT/step_fused.txt"
echo "== ETTh1 SiMBA with the kernel, 2 epochs"
STATECAST_SCAN=fused timeout 400 "$BIN" train --data "$DATA/ETTh1.csv" --split ett-hourly --model simba --lookback 96 \
  --horizon 96 --epochs 2 --warmup-epochs 1 --device cuda --out /tmp/simba-fused > "$OUT/train.log" 2>&1
for dev in cuda cpu; do
  timeout 200 "$BIN" score --model /tmp/simba-fused --data "$DATA/ETTh1.csv" --split ett-hourly --device "$dev" 2>&1 | tail -1
done | tee "$OUT/score.txt"
python3 -c "
import json; a=json.load(open('/tmp/simba-fused/artifact.json')); print('epoch seconds', [round(m['seconds'],2) for m in a['training']['history']])" 2>&1 | tee -a "$OUT/score.txt"
