#!/usr/bin/env bash
# Check of a CUDA build without burn's fusion backend (never in CI): the carried artifact that a
# fusion build scored wrongly (0.0313 and 0.0346 in two runs, CPU 0.0589) scored twice, the
# self-check, then the official SpaceTime configuration trained with this build and its test MSE
# scored on cuda and on the CPU. One tarball back.
# Usage: scripts/gpu-fusion-check.sh PLAIN_XZ ETTH1_CSV ARTIFACT OUT_DIR
set -uo pipefail
PLAIN=${1:?}; CSV=${2:?}; ART=${3:?}; OUT=${4:?}
W=/tmp/fusion-check; rm -rf "$W"; mkdir -p "$W" "$OUT"
xz -dc "$PLAIN" > "$W/statecast" && chmod +x "$W/statecast"
score() { timeout 240 "$1" score --model "$2" --data "$CSV" --columns OT --split ett-hourly --device "$3" 2>&1 | tail -1; }
for i in 1 2; do
  echo "plain build, run $i: $(score "$W/statecast" "$ART" cuda)"
done | tee "$W/ab.txt"
echo "plain build, STATECAST_MATMUL=native: $(STATECAST_MATMUL=native score "$W/statecast" "$ART" cuda)" | tee -a "$W/ab.txt"
timeout 150 "$W/statecast" devices --check cuda > "$W/devices.txt" 2>&1; tail -8 "$W/devices.txt"
/usr/bin/time -v timeout 200 "$W/statecast" train --data "$CSV" --columns OT --split ett-hourly --model spacetime \
  --model-config scripts/gpu/reference-spacetime.json --lookback 336 --horizon 96 --batch-size 50 \
  --epochs 4 --warmup-epochs 1 --patience 100 --device cuda --out "$W/ref" > "$W/train.log" 2>&1
grep -E "epoch|Maximum resident|Elapsed" "$W/train.log" | tail -12
python3 -c "
import json
a=json.load(open('$W/ref/artifact.json'))
print('epoch seconds', [round(m['seconds'],1) for m in a['training']['history']])" 2>&1
echo "fresh plain-build model, cuda: $(score "$W/statecast" "$W/ref" cuda)" | tee -a "$W/ab.txt"
echo "fresh plain-build model, cpu:  $(score "$W/statecast" "$W/ref" cpu)" | tee -a "$W/ab.txt"
rm -f "$W"/statecast* "$W/ref/weights.bpk"; rm -rf "$W"/*.ckpt
tar czf "$OUT/fusion.tgz" -C "$W" .
