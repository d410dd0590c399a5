#!/usr/bin/env bash
# Anomaly benchmarks of BENCHMARKS.md §7: per entity, train a forecaster on the entity's training
# rows (unless MODEL=raw), then `statecast eval anomaly` on its test rows, one JSON per entity;
# finally scripts/anomaly-table.py prints the macro-averaged row.
#
# Usage: scripts/anomaly-bench.sh DATASET MODEL OUT_DIR [ENTITY...]
#   DATASET  SMD | ASD | SMAP | NAB     (NAB: ENTITY = category/file.csv; default: every real* file)
#   MODEL    raw | pca | linear | spacetime   (pca: the PCA reference detector, `--pca $PCA`)
# Environment: STATECAST_BIN (default target/release/statecast), ANOMALY_DATA (default
# ../shared/data/anomaly), DEVICE (cpu), EPOCHS (1), MAX_BATCHES (60), LOOKBACK (100),
# EVAL_EXTRA (extra `eval anomaly` flags, e.g. --window-scoring), PCA (variance fraction, 0.9).
set -uo pipefail
DS=${1:?dataset}; MODEL=${2:?model}; OUT=${3:?out dir}; shift 3
BIN=${STATECAST_BIN:-target/release/statecast}
D=${ANOMALY_DATA:-../shared/data/anomaly}
DEVICE=${DEVICE:-cpu}; EPOCHS=${EPOCHS:-1}; MAX_BATCHES=${MAX_BATCHES:-60}; LOOKBACK=${LOOKBACK:-100}
[ -d "$D/$DS" ] || { echo "MISSING: $D/$DS does not exist; nothing measured" >&2; exit 2; }
mkdir -p "$OUT"
entities=("$@")
if [ ${#entities[@]} -eq 0 ]; then
  case "$DS" in
    SMD) for f in "$D"/SMD/test/*.txt*; do b=$(basename "$f"); entities+=("${b%%.txt*}"); done;;
    ASD) for i in $(seq 1 12); do entities+=("omi-$i"); done;;
    SMAP) entities=(SMAP);;
    NAB) for f in "$D"/NAB/data/real*/*.csv; do entities+=("${f#"$D"/NAB/data/}"); done;;
  esac
fi

# Per dataset: data flags (shared by train and eval), training file, test file, label flags.
for e in "${entities[@]}"; do
  name=${e//\//_}; name=${name%.csv}
  case "$DS" in
    SMD) flags=(--no-header --frequency 1min); train=$(ls "$D/SMD/train/$e".txt*); test=$(ls "$D/SMD/test/$e".txt*)
         label=(--labels "$D/SMD/test_label/$e.txt" --ratio 0.5); split=(--split ratio:0.7,0.3,0.0);;
    ASD) flags=(--frequency 5min); train="$D/ASD/${e}_train.csv.gz"; test="$D/ASD/${e}_test.csv.gz"
         label=(--labels "$D/ASD/${e}_test_label.csv" --ratio 0.5); split=(--split ratio:0.7,0.3,0.0);;
    SMAP) flags=(--frequency 1min --series-column channel); train="$D/SMAP/SMAP_train.csv.gz"
          test="$D/SMAP/SMAP_test.csv.gz"; label=(--label-column label --ratio 1); split=(--split ratio:0.7,0.3,0.0);;
    NAB) flags=(--non-increasing drop --resample mean --missing linear); train=""; test="$D/NAB/data/$e"
         label=(--nab-windows "$D/NAB/labels/combined_windows.json" --fit-fraction 0.15 --score-rest)
         split=(--split ratio:0.105,0.045,0.85);;
    *) echo "unknown dataset $DS" >&2; exit 2;;
  esac
  model_flag=()
  start=$(date +%s.%N)
  if [ "$MODEL" = pca ]; then
    model_flag=(--pca "${PCA:-0.9}")
  elif [ "$MODEL" != raw ]; then
    tflags=("${flags[@]}")
    [ "$DS" = SMAP ] && tflags=(--frequency 1min --series-column channel)
    "$BIN" train --data "${train:-$test}" "${tflags[@]}" --model "$MODEL" --lookback "$LOOKBACK" --horizon 8 \
      --epochs "$EPOCHS" --max-batches-per-epoch "$MAX_BATCHES" "${split[@]}" --device "$DEVICE" \
      --out "$OUT/model_$name" > "$OUT/train_$name.log" 2>&1 || { echo "train $e failed" >&2; tail -3 "$OUT/train_$name.log" >&2; continue; }
    model_flag=(--model "$OUT/model_$name")
  fi
  fit=(); [ -n "$train" ] && fit=(--fit-data "$train")
  "$BIN" eval anomaly --data "$test" "${flags[@]}" "${fit[@]}" "${label[@]}" "${model_flag[@]}" \
    --device "$DEVICE" --name "$name" ${EVAL_EXTRA:-} --json "$OUT/${DS}_${MODEL}_$name.json" > "$OUT/eval_$name.log" 2>&1 \
    || { echo "eval $e failed" >&2; tail -3 "$OUT/eval_$name.log" >&2; }
  echo "$e: $(awk "BEGIN{print $(date +%s.%N) - $start}") s" >> "$OUT/times.txt"
  rm -f "$OUT/model_$name/weights.bpk"
done
python3 "$(dirname "$0")/anomaly-table.py" "$DS" "$MODEL" "$OUT"/"${DS}_${MODEL}"_*.json
