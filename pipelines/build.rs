//! Sets `cfg(shared_data)` when `shared/data` is found, so the tests that read it are reported
//! as ignored (not passed) without it.
fn main() {
    statecast_shared_data::emit_build_cfg();
}
