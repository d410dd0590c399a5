//! # statecast-shared-data
//!
//! Finds the optional public datasets in `shared/data` (never copied into the repository), one
//! rule for everyone: `$STATECAST_SHARED_DATA` when set (it must be a directory), else the first
//! `shared/data` holding a `README.md` found walking up from a start directory.
//!
//! libtest cannot skip a test at run time, so crates whose tests read these files decide at
//! build time: their `build.rs` calls [`emit_build_cfg`], which sets `cfg(shared_data)` when the
//! directory is found, and the tests carry
//! `#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (not found at build time)")]`.
//! Without the data they are reported as *ignored*, never as passed.
//!
//! The build script is re-run when `$STATECAST_SHARED_DATA` changes or the found directory
//! changes. Data added later at a path that was not found before is picked up by setting
//! `STATECAST_SHARED_DATA` (or `cargo clean -p <crate>`).
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Environment variable that names the data directory explicitly.
pub const ENV_VAR: &str = "STATECAST_SHARED_DATA";

/// The cfg a build script sets when the directory is found: `cfg(shared_data)`.
pub const CFG: &str = "shared_data";

/// The data directory as seen from `start` (a crate's manifest directory), reading
/// `$STATECAST_SHARED_DATA`. `None` when absent.
pub fn locate(start: &Path) -> Option<PathBuf> {
    locate_with(std::env::var_os(ENV_VAR), start)
}

/// [`locate`] with the environment variable's value passed in: `env` wins when set (and must be
/// a directory); otherwise the first ancestor `A` of `start` (itself included) with
/// `A/shared/data/README.md`.
pub fn locate_with(env: Option<OsString>, start: &Path) -> Option<PathBuf> {
    if let Some(dir) = env {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    start
        .ancestors()
        .map(|a| a.join("shared").join("data"))
        .find(|p| p.join("README.md").is_file())
}

/// For a `build.rs`: declares `cfg(shared_data)`, sets it when [`locate`] finds the directory
/// from `$CARGO_MANIFEST_DIR`, and asks cargo to re-run the script when `$STATECAST_SHARED_DATA`
/// or the found directory changes.
///
/// # Panics
/// When `CARGO_MANIFEST_DIR` is unset (it always is set for build scripts).
pub fn emit_build_cfg() {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set for build scripts");
    for line in build_directives(locate(Path::new(&manifest_dir)).as_deref()) {
        println!("{line}");
    }
}

/// The cargo directives [`emit_build_cfg`] prints for a lookup result.
pub fn build_directives(found: Option<&Path>) -> Vec<String> {
    let mut lines = vec![
        format!("cargo::rustc-check-cfg=cfg({CFG})"),
        format!("cargo::rerun-if-env-changed={ENV_VAR}"),
    ];
    if let Some(dir) = found {
        lines.push(format!("cargo::rustc-cfg={CFG}"));
        lines.push(format!("cargo::rerun-if-changed={}", dir.display()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir_under(root: &Path) -> PathBuf {
        let data = root.join("shared").join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("README.md"), "datasets\n").unwrap();
        data
    }

    #[test]
    fn walks_up_to_the_first_shared_data_with_a_readme() {
        let root = tempfile::tempdir().unwrap();
        let data = data_dir_under(root.path());
        let start = root.path().join("repo").join("crate");
        std::fs::create_dir_all(&start).unwrap();
        assert_eq!(locate_with(None, &start), Some(data.clone()));
        // A nearer `shared/data` without a README is not the data directory.
        std::fs::create_dir_all(root.path().join("repo/shared/data")).unwrap();
        assert_eq!(locate_with(None, &start), Some(data));
    }

    #[test]
    fn nothing_found_is_none() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(locate_with(None, root.path()), None);
    }

    #[test]
    fn the_environment_variable_wins_and_must_be_a_directory() {
        let root = tempfile::tempdir().unwrap();
        data_dir_under(root.path());
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            locate_with(Some(elsewhere.path().into()), root.path()),
            Some(elsewhere.path().to_path_buf())
        );
        // Set but missing: absent, even though the walk would have found one.
        assert_eq!(
            locate_with(Some("/nonexistent/statecast".into()), root.path()),
            None
        );
    }

    #[test]
    fn directives_declare_the_cfg_always_and_set_it_only_when_found() {
        assert_eq!(
            build_directives(None),
            [
                "cargo::rustc-check-cfg=cfg(shared_data)",
                "cargo::rerun-if-env-changed=STATECAST_SHARED_DATA"
            ]
        );
        assert_eq!(
            build_directives(Some(Path::new("/d/shared/data"))),
            [
                "cargo::rustc-check-cfg=cfg(shared_data)",
                "cargo::rerun-if-env-changed=STATECAST_SHARED_DATA",
                "cargo::rustc-cfg=shared_data",
                "cargo::rerun-if-changed=/d/shared/data"
            ]
        );
    }
}
