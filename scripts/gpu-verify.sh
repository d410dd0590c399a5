#!/usr/bin/env bash
# Follow-up GPU run (never in CI): the self-check, a carried GPU-trained reference artifact
# scored on cuda under each STATECAST_MATMUL mode and on the CPU, then (concurrently) a fresh
# official-configuration training and one ETTm1 horizon, both also scored on the CPU.
# Usage: scripts/gpu-verify.sh DATA_DIR ARTIFACT OUT_DIR BUDGET_S
set -uo pipefail
DATA=${1:?}; ART=${2:?}; OUT=${3:?}; BUDGET=${4:?}
BIN=/tmp/statecast
xz -dc dist/gpu/statecast.xz > "$BIN" && chmod +x "$BIN"
W=/tmp/verify; rm -rf "$W"; mkdir -p "$W" "$OUT"
"$BIN" devices --check cuda 2>&1 | tee "$W/devices.txt"
score() { "$BIN" score --model "$1" --data "$2" $3 --device "$4" 2>&1 | tail -1; }
for mode in auto split-ssm native; do
  echo "carried artifact, cuda, STATECAST_MATMUL=$mode: $(STATECAST_MATMUL=$mode score "$ART" "$DATA/ETTh1.csv" "--columns OT --split ett-hourly" cuda)"
done
echo "carried artifact, cpu: $(score "$ART" "$DATA/ETTh1.csv" "--columns OT --split ett-hourly" cpu)"
T="timeout $BUDGET"
$T "$BIN" train --data "$DATA/ETTh1.csv" --columns OT --split ett-hourly --model spacetime \
  --model-config scripts/gpu/reference-spacetime.json --lookback 336 --horizon 96 --batch-size 50 \
  --epochs 3 --warmup-epochs 1 --patience 100 --device cuda --out "$W/ref" > "$W/ref.log" 2>&1 &
P1=$!
$T "$BIN" train --data "$DATA/ETTm1.csv.gz" --split ett-15min --model spacetime --lookback 96 --horizon 96 \
  --epochs 4 --warmup-epochs 1 --patience 3 --max-batches-per-epoch 300 --device cuda --out "$W/ettm1" > "$W/ettm1.log" 2>&1 &
P2=$!
wait $P1 $P2
tail -4 "$W/ref.log"; tail -4 "$W/ettm1.log"
python3 -c "
import json,sys
for p in sys.argv[1:]:
  try: a=json.load(open(p))
  except Exception as e: print(p, e); continue
  print(p, [round(m['seconds'],1) for m in a['training']['history']])" "$W/ref/artifact.json" "$W/ettm1/artifact.json"
for dev in cuda cpu; do
  echo "fresh reference, $dev: $(score "$W/ref" "$DATA/ETTh1.csv" "--columns OT --split ett-hourly" $dev)"
  echo "fresh ETTm1 H96, $dev: $(score "$W/ettm1" "$DATA/ETTm1.csv.gz" "--split ett-15min" $dev)"
done
rm -f "$W"/*/weights.bpk; rm -rf "$W"/*.ckpt
tar czf "$OUT/verify.tgz" -C "$W" .
