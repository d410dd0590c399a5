//! The start-up sweep of the artifact tree: the registry's own leftovers are removed, anything
//! else without a database row is moved aside, never deleted.
//!
//! ```text
//! <data-dir>/models/.tmp-*, .trash-*              removed (staged imports, deleted versions)
//! <data-dir>/models/<name>/.tmp-*, .trash-*        removed
//! <data-dir>/models/<name>/<version> without a row  moved to <data-dir>/quarantine/<stamp>/<name>/<version>
//! any other entry of the tree                       moved to <data-dir>/quarantine/<stamp>/…
//! ```
//!
//! A lost or replaced `registry.sqlite` therefore costs the rows (names, labels), not the
//! artifacts. Quarantined versions are not re-registered automatically: a directory without a
//! row may be a registration that crashed before committing, and its labels and registration
//! time are gone anyway; the operator re-registers what they want from the quarantine
//! (`--import-root <data-dir>/quarantine`). Their version numbers stay taken: the counter of
//! each name is raised above every number found on disk, so `NAME@N` never names a second
//! artifact.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::meta::Catalog;
use crate::{Error, Result};

/// Prefix of a registry-owned staging directory (an import in progress).
pub(super) const TMP_PREFIX: &str = ".tmp-";
/// Prefix of a registry-owned directory being deleted.
pub(super) const TRASH_PREFIX: &str = ".trash-";
/// Where unregistered entries of the artifact tree are moved, inside the data directory.
pub const QUARANTINE_DIR: &str = "quarantine";

fn is_own_leftover(name: &str) -> bool {
    name.starts_with(TMP_PREFIX) || name.starts_with(TRASH_PREFIX)
}

/// Moves entries into one quarantine batch directory, created on first use.
struct Quarantine {
    root: PathBuf,
    batch: Option<PathBuf>,
    moved: usize,
}

impl Quarantine {
    fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join(QUARANTINE_DIR),
            batch: None,
            moved: 0,
        }
    }

    /// Move `path` to `<batch>/<relative>`; on failure it stays where it is (still not deleted).
    fn park(&mut self, path: &Path, relative: &Path) {
        let batch = self.batch.get_or_insert_with(|| {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
            self.root.join(format!("{stamp}-{}", std::process::id()))
        });
        let to = batch.join(relative);
        let moved = to
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::rename(path, &to));
        match moved {
            Ok(()) => {
                self.moved += 1;
                tracing::warn!(
                    from = %path.display(),
                    to = %to.display(),
                    "moved an unregistered entry of the model tree to quarantine"
                );
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "could not quarantine an unregistered entry of the model tree; left in place"
            ),
        }
    }
}

fn remove(path: &Path) {
    let removed = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    if let Err(e) = removed {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a registry leftover");
    }
}

/// Sweep `models_dir` (inside `data_dir`) against the rows of `catalog`; returns how many entries
/// were quarantined.
///
/// # Errors
/// [`Error::Io`] when the tree cannot be listed, [`Error::Database`].
pub(super) fn sweep(catalog: &dyn Catalog, data_dir: &Path, models_dir: &Path) -> Result<usize> {
    let known = catalog.all_versions()?;
    let mut quarantine = Quarantine::new(data_dir);
    let mut highest: BTreeMap<String, u32> = BTreeMap::new();
    let entries = std::fs::read_dir(models_dir).map_err(|source| Error::Io {
        context: "listing the models directory".into(),
        source,
    })?;
    for model in entries.flatten() {
        let file_name = model.file_name();
        let path = model.path();
        let Some(name) = file_name.to_str() else {
            quarantine.park(&path, Path::new(&file_name));
            continue;
        };
        if is_own_leftover(name) {
            remove(&path);
            continue;
        }
        let is_dir = model.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || super::catalog::check_name("name", name).is_err() {
            quarantine.park(&path, Path::new(name));
            continue;
        }
        let rows = known.get(name).map(Vec::as_slice).unwrap_or_default();
        let Ok(versions) = std::fs::read_dir(&path) else {
            continue;
        };
        for v in versions.flatten() {
            let v_name = v.file_name();
            let v_str = v_name.to_string_lossy();
            if is_own_leftover(&v_str) {
                remove(&v.path());
                continue;
            }
            let number = v_name.to_str().and_then(|s| s.parse::<u32>().ok());
            if let Some(n) = number {
                let h = highest.entry(name.to_string()).or_default();
                *h = (*h).max(n);
            }
            let registered =
                v.file_type().is_ok_and(|t| t.is_dir()) && number.is_some_and(|n| rows.contains(&n));
            if !registered {
                quarantine.park(&v.path(), &Path::new(name).join(&v_name));
            }
        }
        if rows.is_empty() {
            // Only succeeds when nothing is left in it.
            let _ = std::fs::remove_dir(&path);
        }
    }
    for (name, n) in highest {
        catalog.raise_counter(&name, n.saturating_add(1))?;
    }
    Ok(quarantine.moved)
}

/// Remove this registry's own leftovers (interrupted downloads and stagings) directly under
/// `dir` (the artifact cache of scale-out mode, where nothing else is swept).
pub(super) fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_str().is_some_and(is_own_leftover) {
            remove(&entry.path());
        }
    }
}
