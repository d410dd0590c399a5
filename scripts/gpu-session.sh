#!/usr/bin/env bash
# One batched GPU session (never in CI): everything runs concurrently on one CUDA device, each
# run in its own process, under one wall-clock budget, and the results come back as one tarball
# (the device tool returns at most 8 files).
#
#   check      `devices --check cuda` (CUDA vs CPU on ops, kernels and SpaceTime forecasts)
#   official   SpaceTime on the official PyTorch configuration (ETTh1 OT, L=336, H=96, batch 50,
#              width 128, d 64, 1 encoder + closed-loop decoder), then the GPU-trained artifact
#              scored on cuda (default products), cuda with STATECAST_MATMUL=native, and cpu
#   stages     the carried artifact STAGES_ART (default dist/art/ref_gpu, ETTh1 OT L=336) scored
#              on cuda with a stage-by-stage CPU comparison at B = 1 and 32 (`score --stages`),
#              under the default products and STATECAST_MATMUL=native
#   compare    the same artifact: every test batch forecast on cuda and on the CPU
#              (`score --compare-batches`), default products and STATECAST_MATMUL=native
#   anomaly:DS:MODEL[:E1,E2,…]  scripts/anomaly-bench.sh on cuda (DS: SMD ASD SMAP NAB) with
#              window scoring, optionally only entities E1,E2,…; ANOMALY_DATA (default
#              dist/anomaly), ANOMALY_EPOCHS, ANOMALY_BATCHES
#   ltsf:DS:MODEL:H1,H2…:CFG:LR:SEED   one LTSF run (one process, the given horizons) with the
#              model settings scripts/gpu/CFG.json ('-': the family's defaults), learning rate
#              and seed; the JSON row carries the validation MSE that settings are chosen by
#   step:MODEL  `bench step` of the family at L=H=96, 7 variates, batch 32 on cuda
#   scan2d     `bench scan2d` on cuda (Chimera's 2-D scan as the variates and the length double)
#   DS:MODEL   the L=96 LTSF protocol, one process per horizon (DS: ETTh1 ETTh2 ETTm1 ETTm2
#              exchange_rate; MODEL: spacetime linear); LTSF_EXTRA adds eval flags
#              (e.g. "--max-batches-per-epoch 300")
#
# Usage: scripts/gpu-session.sh DATA_DIR OUT_DIR BUDGET_S EPOCHS JOB...
set -uo pipefail
DATA=${1:?data dir}; OUT=${2:?out dir}; BUDGET=${3:?budget seconds}; EPOCHS=${4:?epochs}; shift 4
BIN=/tmp/statecast
[ -x "$BIN" ] || { xz -dc dist/gpu/statecast.xz > "$BIN" && chmod +x "$BIN"; }
WORK=/tmp/statecast-session
rm -rf "$WORK"; mkdir -p "$WORK" "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$WORK/gpu.txt"
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits -lms 500 > "$WORK/gpu_usage.txt" &
SMI=$!
T="timeout --signal=TERM $BUDGET"
pids=()

official() {
  local o=$WORK/official
  mkdir -p "$o"
  /usr/bin/time -v "$BIN" train --data "$DATA/ETTh1.csv" --columns OT --split ett-hourly --model spacetime \
    --model-config scripts/gpu/reference-spacetime.json --lookback 336 --horizon 96 --batch-size 50 \
    --epochs 5 --warmup-epochs 1 --patience 100 --device cuda --out "$o/ref_gpu" > "$o/train.log" 2>&1
  for mode in auto native; do
    STATECAST_MATMUL=$mode "$BIN" score --model "$o/ref_gpu" --data "$DATA/ETTh1.csv" --columns OT \
      --split ett-hourly --device cuda > "$o/score_cuda_$mode.txt" 2>&1
  done
  "$BIN" score --model "$o/ref_gpu" --data "$DATA/ETTh1.csv" --columns OT --split ett-hourly \
    --device cpu > "$o/score_cpu.txt" 2>&1
  rm -f "$o/ref_gpu/weights.bpk"
}

ltsf() {
  local ds=$1 model=$2 h=$3 file split
  case "$ds" in
    ETTh1|ETTh2) file="$DATA/$ds.csv"; split=ett-hourly;;
    ETTm1|ETTm2) file="$DATA/$ds.csv.gz"; split=ett-15min;;
    *) file="$DATA/$ds.csv"; split=ratio:0.7,0.1,0.2;;
  esac
  "$BIN" eval --data "$file" --name "$ds" --split "$split" --model "$model" --lookback 96 \
    --horizons "$h" --epochs "$EPOCHS" --patience 3 --warmup-epochs 1 --device cuda ${LTSF_EXTRA:-} -v \
    --json "$WORK/ltsf_${ds}_${model}_${h}.json" > "$WORK/ltsf_${ds}_${model}_${h}.log" 2>&1
}

ltsf_one() {
  local ds=$1 model=$2 hs=$3 cfg=$4 lr=$5 seed=$6 file split extra=()
  case "$ds" in
    ETTh1|ETTh2) file="$DATA/$ds.csv"; split=ett-hourly;;
    ETTm1|ETTm2) file="$DATA/$ds.csv.gz"; split=ett-15min;;
    *) file="$DATA/$ds.csv"; split=ratio:0.7,0.1,0.2;;
  esac
  [ "$cfg" = - ] || extra=(--model-config "scripts/gpu/$cfg.json")
  local tag="${ds}_${model}_${cfg}_lr${lr}_s${seed}_h${hs//,/-}"
  "$BIN" eval --data "$file" --name "$ds" --split "$split" --model "$model" --lookback 96 \
    --horizons "$hs" --epochs "$EPOCHS" --patience 3 --warmup-epochs 1 --lr "$lr" --seed "$seed" \
    --device cuda "${extra[@]}" ${LTSF_EXTRA:-} -v --json "$WORK/run_$tag.json" > "$WORK/run_$tag.log" 2>&1
}

stages() {
  local art=${STAGES_ART:-dist/art/ref_gpu}
  for mode in auto native; do
    STATECAST_MATMUL=$mode "$BIN" score --model "$art" --data "$DATA/ETTh1.csv" --columns OT \
      --split ett-hourly --device cuda --stages 1,32 > "$WORK/stages_$mode.txt" 2>&1
  done
}

compare() {
  local art=${STAGES_ART:-dist/art/ref_gpu}
  for mode in auto native; do
    STATECAST_MATMUL=$mode "$BIN" score --model "$art" --data "$DATA/ETTh1.csv" --columns OT \
      --split ett-hourly --device cuda --compare-batches > "$WORK/compare_$mode.txt" 2>&1 &
  done
  wait
}

anomaly() {
  local ds=$1 model=$2 entities=${3:-}
  STATECAST_BIN=$BIN DEVICE=cuda ANOMALY_DATA=${ANOMALY_DATA:-dist/anomaly} EPOCHS=${ANOMALY_EPOCHS:-3} \
    MAX_BATCHES=${ANOMALY_BATCHES:-200} EVAL_EXTRA=--window-scoring \
    scripts/anomaly-bench.sh "$ds" "$model" "$WORK/anomaly_${ds}_$model" ${entities//,/ } > "$WORK/anomaly_${ds}_$model.txt" 2>&1
}

for job in "$@"; do
  case "$job" in
    stages) export -f stages; $T bash -c "BIN=$BIN DATA=$DATA WORK=$WORK STAGES_ART=${STAGES_ART:-} stages" & pids+=($!);;
    compare) export -f compare; $T bash -c "BIN=$BIN DATA=$DATA WORK=$WORK STAGES_ART=${STAGES_ART:-} compare" & pids+=($!);;
    anomaly:*)
      IFS=: read -r _ ds model entities <<< "$job"
      export -f anomaly; $T bash -c "BIN=$BIN WORK=$WORK ANOMALY_DATA=${ANOMALY_DATA:-} anomaly $ds $model $entities" & pids+=($!);;
    ltsf:*)
      IFS=: read -r _ ds model hs cfg lr seed <<< "$job"
      export -f ltsf_one; $T bash -c "BIN=$BIN DATA=$DATA WORK=$WORK EPOCHS=$EPOCHS LTSF_EXTRA='${LTSF_EXTRA:-}' ltsf_one $ds $model $hs ${cfg:--} ${lr:-0.001} ${seed:-0}" & pids+=($!);;
    step:*)
      $T "$BIN" bench step --model "${job#step:}" --lookback 96 --horizon 96 --variates 7 --batch-size 32 \
        --steps 20 --warmup 3 --device cuda > "$WORK/step_${job#step:}.txt" 2>&1 & pids+=($!);;
    check) $T "$BIN" devices --check cuda > "$WORK/devices.txt" 2>&1 & pids+=($!);;
    scan2d) $T "$BIN" bench scan2d --device cuda --repeats 5 > "$WORK/scan2d.txt" 2>&1 & pids+=($!);;
    official) export -f official; $T bash -c "BIN=$BIN DATA=$DATA WORK=$WORK official" & pids+=($!);;
    *:*)
      ds=${job%%:*}; model=${job#*:}
      for h in 96 192 336 720; do
        export -f ltsf; $T bash -c "BIN=$BIN DATA=$DATA WORK=$WORK EPOCHS=$EPOCHS LTSF_EXTRA='${LTSF_EXTRA:-}' ltsf $ds $model $h" & pids+=($!)
      done;;
  esac
done
start=$(date +%s)
for p in "${pids[@]}"; do wait "$p"; done
echo "all runs ended after $(( $(date +%s) - start )) s"
kill $SMI 2>/dev/null
cat "$WORK/devices.txt" 2>/dev/null
for f in "$WORK"/official/score_*.txt; do [ -e "$f" ] && { echo "== $f"; tail -3 "$f"; }; done
grep -h -E "Elapsed|Maximum resident" "$WORK/official/train.log" 2>/dev/null
cat "$WORK"/ltsf_*.json 2>/dev/null
[ -e "$WORK/scan2d.txt" ] && cat "$WORK/scan2d.txt"
for f in "$WORK"/step_*.txt; do [ -e "$f" ] && { echo "== $f"; cat "$f"; }; done
for f in "$WORK"/run_*.json; do [ -e "$f" ] && python3 -c "
import json,sys
for r in json.load(open(sys.argv[1])):
    print(sys.argv[1].split('/')[-1][4:-5], 'H', r['horizon'], 'val', r.get('val_mse'), 'mse %.4f mae %.4f' % (r['mse'], r['mae']), 'ep', r['epochs'], 'best', r['best_epoch'], 's/ep %.1f' % r['seconds_per_epoch'])
" "$f"; done
for f in "$WORK"/run_*.log; do [ -e "${f%.log}.json" ] || { echo "== unfinished $f"; tail -2 "$f"; }; done
for f in "$WORK"/stages_*.txt "$WORK"/compare_*.txt; do [ -e "$f" ] && { echo "== $f"; cat "$f"; }; done
for f in "$WORK"/anomaly_*.txt; do [ -e "$f" ] && { echo "== $f"; cat "$f"; }; done
echo "peak GPU memory used (MiB): $(cut -d, -f1 "$WORK/gpu_usage.txt" | sort -n | tail -1)"
tar czf "$OUT/session.tgz" -C "$WORK" .
