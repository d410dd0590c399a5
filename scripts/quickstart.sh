#!/usr/bin/env bash
# The main job on the built-in default data (README "Quickstart"):
# build → simulate a labelled sensor fleet → validate it → serve gRPC → train SpaceTime as a
# job on the server (progress streamed) → forecast over gRPC with quantiles → stream fresh data
# with injected anomalies through the streaming monitor, printing alarms as they fire.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${STATECAST_QUICKSTART_DIR:-quickstart}
export BURN_DEVICE=flex
rm -rf "$WORK/server" "$WORK/live"

echo "== 1/7 build (release)"
BIN=${STATECAST_BIN:-target/release/statecast}
[ -n "${STATECAST_BIN:-}" ] || cargo build --locked --release --bin statecast
DATA=(--data "$WORK/sensors.parquet" --series-column series_id --label-column label --missing linear)

echo "== 2/7 simulate a sensor fleet into $WORK/"
"$BIN" simulate --out "$WORK" --series 3 --variates 6 --length 8064 --seed 42 --csv

echo "== 3/7 read and validate it"
"$BIN" inspect "${DATA[@]}"

echo "== 4/7 start the gRPC server"
"$BIN" serve --addr 127.0.0.1:0 --data-dir "$WORK/server" --data-root "$WORK" > "$WORK/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
addr="http://$(sed -n 's/^statecast listening on //p' "$WORK/serve.log")"
"$BIN" info --server "$addr"

echo "== 5/7 train SpaceTime (L=96, H=24, CPU) as a job on the server, watching its progress"
"$BIN" jobs submit --server "$addr" "${DATA[@]}" --model spacetime --lookback 96 --horizon 24 \
  --epochs 3 --max-batches-per-epoch 60 --name sensors --label stable --watch

echo "== 6/7 forecast the next 24 steps of every machine over gRPC (summary; all steps in $WORK/forecast.csv)"
"$BIN" forecast --server "$addr" --model sensors:stable "${DATA[@]}" --levels 80 \
  --out "$WORK/forecast.csv" --plot "$WORK/forecast.png"

echo "== 7/7 stream the next 3.5 days of the same machines, with fresh incidents, through the monitor"
"$BIN" simulate --out "$WORK/live" --series 3 --variates 6 --length 1000 --seed 42 --offset 8064 \
  --clean-fraction 0.2 --anomaly-rate 3
"$BIN" monitor --server "$addr" --model sensors:stable --data "$WORK/live/sensors.parquet" \
  --series-column series_id --label-column label --missing linear
echo "   (labelled anomalies in that stream: $WORK/live/anomalies.csv)"
kill -TERM $pid; wait $pid
echo "== quickstart finished: data in $WORK/, server state in $WORK/server/"
