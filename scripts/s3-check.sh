#!/usr/bin/env bash
# Scale-out mode against an S3-compatible store (a manual check, not part of CI): moto's S3
# server (`pip install "moto[server]"`) on loopback, the throwaway PostgreSQL, two servers
# (`--role api`, `--role worker`) with `--object-store s3://…` and an `s3://` data root. A job
# reads its dataset from the store, its model lands in the store, the API server forecasts
# with it, and `statecast train --data s3://…` reads the same object.
#
# Usage: scripts/s3-check.sh [BIN]
set -euo pipefail
BIN=$(realpath "${1:-target/debug/statecast}")
cd "$(dirname "$0")/.."
W=$(mktemp -d /tmp/statecast-s3.XXXXXX)
export STATECAST_PG_STATE=/tmp/statecast-pg-$$   # outside $W: the postgres user must reach it
eval "$(scripts/pg-test.sh start)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$PORT" > "$W/moto.log" 2>&1 &
pids=($!)
cleanup() { for p in "${pids[@]}" $(cat "$W/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done; scripts/pg-test.sh stop; rm -rf "$W"; }
trap cleanup EXIT
export AWS_ENDPOINT=http://127.0.0.1:$PORT AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
for _ in $(seq 50); do curl -s "$AWS_ENDPOINT" >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN" simulate --out "$W/sim" --series 1 --variates 3 --length 2400 >/dev/null
python3 - "$W/sim/sensors.parquet" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name="us-east-1")
s3.create_bucket(Bucket="fleet")
s3.upload_file(sys.argv[1], "fleet", "datasets/sensors.parquet")
PY
psql "$STATECAST_TEST_PG_URL" -q -c "CREATE DATABASE s3check"
PG=${STATECAST_TEST_PG_URL%/*}/s3check
start() {
  "$BIN" serve --addr 127.0.0.1:0 --data-dir "$W/$1" --registry "$PG" --object-store s3://fleet/statecast \
    --role "$2" --worker-id "$1" --data-root "$W" --data-root s3://fleet/datasets > "$W/$1.out" 2> "$W/$1.log" &
  echo $! >> "$W/pids"   # a file: start runs in a command substitution (a subshell)
  for _ in $(seq 100); do grep -q "listening on" "$W/$1.out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/statecast listening on /http:\/\//p' "$W/$1.out"
}
API=$(start api api); start worker worker >/dev/null
echo "== a job reading s3://fleet/datasets/sensors.parquet, submitted to the API server, trained by the worker"
"$BIN" jobs submit --server "$API" --data s3://fleet/datasets/sensors.parquet --series-column series_id \
  --label-column label --missing linear --model linear --lookback 48 --horizon 12 --epochs 2 \
  --name s3model --label prod --watch | tail -2
echo "== objects in the bucket"
python3 - <<'PY'
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name="us-east-1")
for o in s3.list_objects_v2(Bucket="fleet").get("Contents", []):
    print(f"  {o['Key']}  {o['Size']} bytes")
PY
echo "== forecast through the API server (artifact downloaded from the store into its cache)"
"$BIN" forecast --server "$API" --model s3model:prod --data "$W/sim/sensors.parquet" --series-column series_id \
  --label-column label --missing linear | head -5
ls "$W/api/artifact-cache"
echo "== statecast train --data s3://… (the CLI downloads the object)"
"$BIN" train --data s3://fleet/datasets/sensors.parquet --series-column series_id --label-column label \
  --missing linear --model linear --lookback 48 --horizon 12 --epochs 1 --out "$W/cli-model" | tail -2
echo "== a dataset object that does not exist: the job fails with a clear message"
"$BIN" jobs submit --server "$API" --data s3://fleet/datasets/missing.parquet --model linear \
  --lookback 48 --horizon 12 --epochs 1 --name missing --watch 2>&1 | tail -2 || true
