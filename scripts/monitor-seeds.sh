#!/usr/bin/env bash
# The quickstart's monitoring scenario over several simulator seeds: for each seed, simulate the
# fleet's history (3 machines × 6 sensors, 8064 rows = 28 days at 5 min, incidents in its second
# half, labelled), train SpaceTime on it exactly as the quickstart does, simulate the next 1000
# rows (3.5 days) of the same machines with fresh incidents, and score them with the detector
# the monitor would use (fitted on the history with its incidents; the monitor's alarm rules).
# `statecast detect` scores a file exactly as the monitor streams it (batch == stream).
# Prints one line per seed: caught incidents, false alarms (alarms overlapping no incident).
#
#   STATECAST_BIN=target/release/statecast scripts/monitor-seeds.sh OUT_DIR [SEED ...] [-- DETECT_FLAGS]
# Trained models are kept in OUT_DIR/seed-N/art and reused. FIT_FRACTION and VAL_FRACTION
# (default 0.8 and 0.125, what the server uses) change the rows the detector is fitted on.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${STATECAST_BIN:-target/release/statecast}
OUT=${1:?usage: monitor-seeds.sh OUT_DIR [SEED ...] [-- DETECT_FLAGS]}; shift
SEEDS=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do SEEDS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(42 1 2 3 4 5)
export BURN_DEVICE=flex
D=(--series-column series_id --label-column label --missing linear)
for seed in "${SEEDS[@]}"; do
  W="$OUT/seed-$seed"; mkdir -p "$W"
  [ -f "$W/sensors.parquet" ] || "$BIN" simulate --out "$W" --series 3 --variates 6 --length 8064 --seed "$seed" > /dev/null
  [ -f "$W/live/sensors.parquet" ] || "$BIN" simulate --out "$W/live" --series 3 --variates 6 --length 1000 \
      --seed "$seed" --offset 8064 --clean-fraction 0.2 --anomaly-rate 3 > /dev/null
  [ -f "$W/art/artifact.json" ] || "$BIN" train --data "$W/sensors.parquet" "${D[@]}" --model spacetime \
      --lookback 96 --horizon 24 --epochs 3 --max-batches-per-epoch 60 --out "$W/art" > "$W/train.log" 2>&1
  # The monitor's detector: fitted on the training file's train+validation rows (ratio split
  # 0.7/0.1/0.2 → the first 80 %, the last eighth of it for calibration), the monitor's threshold
  # (ThresholdMethod::MONITORING) and alarm rules (AlarmRules::monitoring).
  "$BIN" detect --model "$W/art" --fit-data "$W/sensors.parquet" --fit-fraction ${FIT_FRACTION:-0.8} --val-fraction ${VAL_FRACTION:-0.125} \
      --data "$W/live/sensors.parquet" "${D[@]}" --threshold trimmed:0.85:0.05:1e-4 --clear 12 --suppress 12 \
      --out "$W/detect.csv" --save-detector "$W/detector.json" "$@" > "$W/detect.log" 2>&1
  printf 'seed %s %s\n' "$seed" "$(python3 scripts/count-incidents.py "$W/detect.segments.csv" "$W/live/anomalies.csv")"
done
