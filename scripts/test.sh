#!/usr/bin/env bash
# The test command (README "Run the tests"): unit, integration and end-to-end tests on the CPU
# backend. End-to-end tests drive the real `statecast` binary, so it is built first.
set -euo pipefail
cd "$(dirname "$0")/.."
export BURN_DEVICE=flex          # never let a GPU build pick CUDA in tests
cargo build --locked --bin statecast
cargo test --locked --workspace "$@"
