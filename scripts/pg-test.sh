#!/usr/bin/env bash
# A throwaway PostgreSQL for the scale-out tests: `eval "$(scripts/pg-test.sh start)"` starts one
# (initdb into a temporary directory, loopback TCP on a free port, trust auth) and prints
# `export STATECAST_TEST_PG_URL=postgres://statecast@127.0.0.1:PORT/statecast`;
# `scripts/pg-test.sh stop` stops it and removes its directory. PostgreSQL refuses to run as
# root, so as root the server runs as the `postgres` user. Uses the machine's PostgreSQL 15
# (initdb, pg_ctl, postgres on the PATH or under /usr/lib/postgresql/15/bin).
set -euo pipefail
STATE=${STATECAST_PG_STATE:-/tmp/statecast-pg-test}
bin() {
  for d in "" /usr/lib/postgresql/15/bin/ /usr/local/bin/; do
    if command -v "${d}$1" >/dev/null 2>&1; then echo "${d}$1"; return; fi
  done
  echo "pg-test.sh: $1 not found (install PostgreSQL 15)" >&2; exit 1
}
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-start}" in
  start)
    if [ -f "$STATE/port" ] && as_pg "$(bin pg_ctl)" -D "$STATE/data" status >/dev/null 2>&1; then
      port=$(cat "$STATE/port")
    else
      rm -rf "$STATE"; mkdir -p "$STATE"
      [ "$(id -u)" = 0 ] && chown postgres "$STATE"
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      as_pg "$(bin initdb)" -D "$STATE/data" -U statecast --auth=trust -E UTF8 >"$STATE/initdb.log" 2>&1
      as_pg "$(bin pg_ctl)" -D "$STATE/data" -l "$STATE/server.log" -w \
        -o "-p $port -k $STATE -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
      as_pg "$(dirname "$(bin pg_ctl)")/createdb" -h 127.0.0.1 -p "$port" -U statecast statecast 2>/dev/null \
        || psql -h 127.0.0.1 -p "$port" -U statecast -d postgres -c 'CREATE DATABASE statecast' >/dev/null
      echo "$port" > "$STATE/port"
    fi
    echo "export STATECAST_TEST_PG_URL=postgres://statecast@127.0.0.1:$port/statecast"
    ;;
  stop)
    if [ -d "$STATE/data" ]; then as_pg "$(bin pg_ctl)" -D "$STATE/data" -m fast stop >/dev/null 2>&1 || true; fi
    rm -rf "$STATE"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2;;
esac
