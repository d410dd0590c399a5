#!/usr/bin/env bash
# The L=96 long-term forecasting table on a CUDA device (never in CI): SpaceTime (statecast
# defaults) and the Linear baseline on the given datasets, 4 horizons each, published protocol.
# Usage: scripts/gpu-ltsf.sh DATA_DIR OUT_DIR EPOCHS DATASET...   (DATASET: ETTh1 ETTh2 ETTm1 ETTm2 exchange_rate)
set -uo pipefail
DATA=${1:?data dir}; OUT=${2:?out dir}; EPOCHS=${3:?epochs}; shift 3
BIN=/tmp/statecast
[ -x "$BIN" ] || { xz -dc dist/gpu/statecast.xz > "$BIN" && chmod +x "$BIN"; }
mkdir -p "$OUT"
for ds in "$@"; do
  case "$ds" in
    ETTh1|ETTh2) file="$DATA/$ds.csv"; split=ett-hourly;;
    ETTm1|ETTm2) file="$DATA/$ds.csv.gz"; split=ett-15min;;
    *) file="$DATA/$ds.csv"; split=ratio:0.7,0.1,0.2;;
  esac
  for model in spacetime linear; do
    echo "== $ds $model"
    "$BIN" eval --data "$file" --name "$ds" --split "$split" --model "$model" --lookback 96 \
      --horizons 96,192,336,720 --epochs "$EPOCHS" --patience 3 --warmup-epochs 1 --device cuda \
      --json "$OUT/${ds}_${model}.json" 2>&1 | grep -v "^\s*$"
  done
done
