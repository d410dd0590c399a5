#!/usr/bin/env bash
# The test command (README "Run the tests"): unit, integration and end-to-end tests on the CPU
# backend. End-to-end tests drive the real `statecast` binary, so it is built first. The
# scale-out tests need PostgreSQL: unless STATECAST_TEST_PG_URL names one, a throwaway server
# is started (scripts/pg-test.sh, the machine's PostgreSQL 15) and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export BURN_DEVICE=flex          # never let a GPU build pick CUDA in tests
if [ -z "${STATECAST_TEST_PG_URL:-}" ]; then
  export STATECAST_PG_STATE=/tmp/statecast-pg-test-$$
  eval "$(scripts/pg-test.sh start)"
  trap 'scripts/pg-test.sh stop' EXIT
fi
cargo build --locked --bin statecast
cargo test --locked --workspace "$@"
