//! End-to-end tests for statecast live in `tests/tests/*.rs`; they drive the real `statecast`
//! binary (built by `scripts/test.sh`) and talk to the real server over loopback gRPC.
