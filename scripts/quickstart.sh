#!/usr/bin/env bash
# The main job on the built-in default data (README "Quickstart"):
# build → simulate a labelled sensor fleet → validate it → train SpaceTime on it (CPU) →
# serve gRPC → register the model → forecast over gRPC with quantiles.
# Streaming anomaly monitoring is added here when it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${STATECAST_QUICKSTART_DIR:-quickstart}
export BURN_DEVICE=flex
rm -rf "$WORK/server" "$WORK/model" "$WORK/model.ckpt"

echo "== 1/6 build (release)"
BIN=${STATECAST_BIN:-target/release/statecast}
[ -n "${STATECAST_BIN:-}" ] || cargo build --locked --release --bin statecast
DATA=(--data "$WORK/sensors.parquet" --series-column series_id --label-column label --missing linear)

echo "== 2/6 simulate a sensor fleet into $WORK/"
"$BIN" simulate --out "$WORK" --series 3 --variates 6 --length 8064 --seed 42 --csv

echo "== 3/6 read and validate it"
"$BIN" inspect "${DATA[@]}"

echo "== 4/6 train SpaceTime (L=96, H=24) on the CPU"
"$BIN" train "${DATA[@]}" --model spacetime --lookback 96 --horizon 24 --epochs 3 \
  --max-batches-per-epoch 60 --device cpu --out "$WORK/model"

echo "== 5/6 start the gRPC server, register the model"
"$BIN" serve --addr 127.0.0.1:0 --data-dir "$WORK/server" > "$WORK/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
addr="http://$(sed -n 's/^statecast listening on //p' "$WORK/serve.log")"
"$BIN" info --server "$addr"
"$BIN" models register --server "$addr" sensors "$WORK/model" --label stable

echo "== 6/6 forecast the next 24 steps of every machine over gRPC"
"$BIN" forecast --server "$addr" --model sensors:stable "${DATA[@]}" --quantiles 0.1,0.5,0.9
kill -TERM $pid; wait $pid
echo "== quickstart finished: data and model in $WORK/"
