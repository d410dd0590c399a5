//! Locating the optional public datasets in `shared/data` (never copied into the repo).
//!
//! Tests that read them are gated at build time: `build.rs` sets `cfg(shared_data)` when the
//! directory is found (see `statecast-shared-data`), and each such test carries
//! `#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]`,
//! so without the data it is reported as ignored. When it does run, a missing file is a failure:
//! [`shared_data_file`] panics naming it.
use std::path::{Path, PathBuf};

/// The `shared/data` directory: `$STATECAST_SHARED_DATA` if set, else the first `shared/data`
/// found beside the workspace root or one of its ancestors. `None` when absent.
pub fn shared_data_dir() -> Option<PathBuf> {
    statecast_shared_data::locate(Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// `shared/data/<relative>`, for a test gated on `cfg(shared_data)`.
///
/// # Panics
/// When the directory or the file is missing: the build found the data, so its absence now is
/// a broken data directory (or a changed `$STATECAST_SHARED_DATA`), not a reason to pass.
#[track_caller]
pub fn shared_data_file(relative: &str) -> PathBuf {
    let Some(dir) = shared_data_dir() else {
        panic!(
            "shared/data is not found at run time although it was at build time \
             (set STATECAST_SHARED_DATA to the directory, or rebuild)"
        );
    };
    let path = dir.join(relative);
    assert!(
        path.exists(),
        "`{relative}` is missing from the shared data directory {} (an incomplete copy?)",
        dir.display()
    );
    path
}
