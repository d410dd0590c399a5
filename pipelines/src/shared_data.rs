//! Locating the optional public datasets in `../shared/data` (never copied into the repo).
//!
//! Tests and benchmarks that use them call [`shared_data_dir`] and, when it returns `None`,
//! print a loud `SKIPPED` banner instead of passing silently.
use std::path::{Path, PathBuf};

/// The `shared/data` directory: `$STATECAST_SHARED_DATA` if set, else the first `shared/data`
/// found beside the workspace root or one of its ancestors. `None` when absent.
pub fn shared_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("STATECAST_SHARED_DATA") {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared").join("data"))
        .find(|p| p.join("README.md").is_file())
}

/// `shared/data/<relative>` if it exists; otherwise prints a loud banner naming `test` and
/// returns `None`.
pub fn shared_file(relative: &str, test: &str) -> Option<PathBuf> {
    let found = shared_data_dir().map(|d| d.join(relative)).filter(|p| p.exists());
    if found.is_none() {
        eprintln!(
            "\n==================== SKIPPED (shared data missing) ====================\n\
             {test}: `shared/data/{relative}` was not found (set STATECAST_SHARED_DATA).\n\
             The simulator-based tests cover the same code paths.\n\
             =======================================================================\n"
        );
    }
    found
}
