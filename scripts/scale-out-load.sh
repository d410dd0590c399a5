#!/usr/bin/env bash
# Forecast throughput with 1, 2 and 3 API servers sharing one PostgreSQL registry and one
# object store on this machine (scale-out mode, issue 17), and the failover time of a killed
# worker. Everything runs on loopback on one machine, so the servers and the load client share
# its cores: the figure shows what the shared registry costs and how a fixed core count is
# divided, not what separate machines would add.
#
# Usage: scripts/scale-out-load.sh [BIN] [DURATION_S] [CLIENTS]
set -euo pipefail
BIN=${1:-target/release/statecast}; DUR=${2:-10}; CLIENTS=${3:-6,24}
cd "$(dirname "$0")/.."
W=$(mktemp -d /tmp/statecast-scale-out.XXXXXX)
export STATECAST_PG_STATE=/tmp/statecast-pg-$$   # outside $W: the postgres user must reach it
eval "$(scripts/pg-test.sh start)"
pids=()
cleanup() { for p in "${pids[@]}" $(cat "$W/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done; scripts/pg-test.sh stop; rm -rf "$W"; }
trap cleanup EXIT
DB=scale_out_load
psql "$STATECAST_TEST_PG_URL" -q -c "CREATE DATABASE $DB"
PG=${STATECAST_TEST_PG_URL%/*}/$DB
"$BIN" simulate --out "$W/sim" --series 2 --variates 4 --length 2000 >/dev/null
"$BIN" train --data "$W/sim/sensors.parquet" --series-column series_id --label-column label \
  --missing linear --model linear --lookback 96 --horizon 24 --epochs 1 --max-batches-per-epoch 4 \
  --out "$W/model" >/dev/null
start() { # name role -> prints the address
  "$BIN" serve --addr 127.0.0.1:0 --data-dir "$W/$1" --registry "$PG" --object-store "file://$W/objects" \
    --role "$2" --worker-id "$1" --job-lease-s 5 --import-root "$W/model" --data-root "$W" \
    > "$W/$1.out" 2> "$W/$1.log" &
  echo $! >> "$W/pids"   # a file: start runs in a command substitution (a subshell)
  for _ in $(seq 100); do grep -q "listening on" "$W/$1.out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/statecast listening on /http:\/\//p' "$W/$1.out"
}
A=$(start a api); B=$(start b api); C=$(start c api)
"$BIN" models register --server "$A" bench "$W/model" >/dev/null
echo "== forecast throughput, ${DUR} s per level, clients $CLIENTS, $(nproc) cores shared by everything"
"$BIN" bench load --server "$A" --model bench --clients "$CLIENTS" --duration-s "$DUR" | grep -vE "RSS"
"$BIN" bench load --server "$A" --spread-over "$B" --model bench --clients "$CLIENTS" --duration-s "$DUR" | grep -vE "RSS"
"$BIN" bench load --server "$A" --spread-over "$B,$C" --model bench --clients "$CLIENTS" --duration-s "$DUR" | grep -vE "RSS"

echo "== failover: SIGKILL the worker training a job, time until the other worker holds it"
W1=$(start w1 worker); W2=$(start w2 worker)
cat > "$W/tiny.json" <<'J'
{"d_model": 8, "state_dim": 8, "first_n_kernels": 2, "first_n_heads": 4, "n_kernels": 8}
J
"$BIN" jobs submit --server "$A" --data "$W/sim/sensors.parquet" --series-column series_id \
  --label-column label --missing linear --model spacetime --model-config "$W/tiny.json" \
  --lookback 48 --horizon 12 --epochs 8 --max-batches-per-epoch 30 --name failover >/dev/null
holder() { psql "$PG" -Atc "SELECT coalesce(lease_owner,'-') || ' ' || state || ' ' || attempts || ' ' || jsonb_array_length(history::jsonb) FROM jobs WHERE model_name='failover'"; }
for _ in $(seq 600); do read -r owner state attempts epochs <<<"$(holder)"; [ "${epochs:-0}" -ge 1 ] && break; sleep 0.1; done
echo "job held by $owner after epoch $epochs; killing it"
victim=$owner
pid=$(pgrep -f -- "--worker-id $victim" | head -1); kill -9 "$pid"; t0=$(date +%s.%N)
for _ in $(seq 1200); do read -r owner state attempts epochs <<<"$(holder)"; [ "$owner" != "-" ] && [ "$owner" != "$victim" ] && break; sleep 0.05; done
t1=$(date +%s.%N)
echo "failover: held by $owner (attempt $attempts) $(python3 -c "print(f'{$t1-$t0:.2f}')") s after SIGKILL (lease 5 s)"
for _ in $(seq 1200); do read -r owner state attempts epochs <<<"$(holder)"; [ "$state" = SUCCEEDED ] || [ "$state" = FAILED ] && break; sleep 0.2; done
echo "job $state after $epochs epochs, $(psql "$PG" -Atc "SELECT count(*) FROM versions WHERE name='failover'") version(s) registered, resumed from epoch $(psql "$PG" -Atc "SELECT resumed_from_epoch FROM jobs WHERE model_name='failover'")"
