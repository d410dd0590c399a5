#!/usr/bin/env bash
# The main job on the built-in default data (README "Quickstart"):
# build → simulate a labelled sensor fleet → validate it → serve gRPC → query health/info.
# Later stages (train, forecast, monitor) are added here as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${STATECAST_QUICKSTART_DIR:-quickstart}
export BURN_DEVICE=flex

echo "== 1/4 build (release)"
cargo build --locked --release --bin statecast
BIN=target/release/statecast

echo "== 2/4 simulate a sensor fleet into $WORK/"
"$BIN" simulate --out "$WORK" --series 3 --variates 6 --length 8064 --seed 42 --csv

echo "== 3/4 read and validate it"
"$BIN" inspect --data "$WORK/sensors.parquet" --series-column series_id --label-column label

echo "== 4/4 start the gRPC server and query it"
"$BIN" serve --addr 127.0.0.1:0 --data-dir "$WORK/server" > "$WORK/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
addr=$(sed -n 's/^statecast listening on //p' "$WORK/serve.log")
"$BIN" info --server "http://$addr"
kill -TERM $pid; wait $pid
echo "== quickstart finished: data in $WORK/ (sensors.parquet, sensors.csv, anomalies.csv)"
