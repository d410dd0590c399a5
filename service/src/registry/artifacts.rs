//! [`ArtifactStore`]: where registered artifacts' files live. Embedded mode keeps them in the
//! data directory (`models/<name>/<version>/`); scale-out mode uploads them to the object store
//! (`models/<name>/<version>/…`) and every server that loads a version keeps a local copy in
//! `<data-dir>/artifact-cache/<content sha256>/`, downloaded once and checked against the hash
//! its registry row carries.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::VersionInfo;
use super::sweep::{TMP_PREFIX, TRASH_PREFIX};
use crate::backend::Objects;
use crate::backend::objects::content_hash;
use crate::{Error, Result};

/// The artifact cache inside the data directory (scale-out mode).
pub const ARTIFACT_CACHE_DIR: &str = "artifact-cache";

/// Where artifacts' files are kept.
#[derive(Debug)]
pub(super) enum ArtifactStore {
    /// `models_dir/<name>/<version>/`.
    Local { models_dir: PathBuf },
    /// The object store, with a local cache by content hash.
    Object {
        objects: Arc<Objects>,
        cache_dir: PathBuf,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// A name for a temporary sibling that no other call uses.
pub(super) fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// Remove `dir` by renaming it aside first, so a crash never leaves a half-deleted version
/// under its real name.
pub(super) fn remove_dir(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trash = dir.with_file_name(format!("{TRASH_PREFIX}{name}-{}", unique_suffix()));
    let target = if std::fs::rename(dir, &trash).is_ok() {
        trash
    } else {
        dir.to_path_buf()
    };
    if let Err(e) = std::fs::remove_dir_all(&target) {
        tracing::warn!(dir = %target.display(), error = %e, "could not remove a deleted model directory");
    }
}

fn key(name: &str, version: u32) -> String {
    format!("models/{name}/{version}")
}

impl ArtifactStore {
    /// The directory new registrations stage their copy in (same file system as the final place).
    pub(super) fn staging_dir(&self) -> PathBuf {
        let root = match self {
            Self::Local { models_dir } => models_dir,
            Self::Object { cache_dir, .. } => cache_dir,
        };
        root.join(format!("{TMP_PREFIX}{}", unique_suffix()))
    }

    /// The local layout's directory of one version (embedded mode).
    pub(super) fn version_dir(&self, name: &str, version: u32) -> PathBuf {
        match self {
            Self::Local { models_dir } => models_dir.join(name).join(version.to_string()),
            Self::Object { cache_dir, .. } => cache_dir.join(format!("{TMP_PREFIX}unused")),
        }
    }

    /// Put the verified `staging` copy in place as `version` of `name`; returns its content hash.
    pub(super) fn place(&self, name: &str, version: u32, staging: &Path) -> Result<String> {
        let hash = content_hash(staging)?;
        match self {
            Self::Local { models_dir } => {
                let model_dir = models_dir.join(name);
                std::fs::create_dir_all(&model_dir)
                    .map_err(io(format!("creating {}", model_dir.display())))?;
                let dest = self.version_dir(name, version);
                if dest.exists() {
                    // Numbers only grow and the sweep quarantines directories without a row, so
                    // this is someone else's directory: keep it aside rather than overwrite it.
                    let aside = model_dir.join(format!("{version}.unregistered-{}", unique_suffix()));
                    tracing::warn!(dir = %dest.display(), to = %aside.display(), "an unregistered directory held the next version's place; moved aside");
                    std::fs::rename(&dest, &aside).map_err(io(format!("moving aside {}", dest.display())))?;
                }
                std::fs::rename(staging, &dest)
                    .map_err(io(format!("moving the staged copy to {}", dest.display())))?;
            }
            Self::Object { objects, cache_dir } => {
                objects.put_dir(staging, &key(name, version))?;
                let cached = cache_dir.join(&hash);
                if cached.exists() || std::fs::rename(staging, &cached).is_err() {
                    let _ = std::fs::remove_dir_all(staging);
                }
            }
        }
        Ok(hash)
    }

    /// Undo [`place`](Self::place) after the catalog refused the row.
    pub(super) fn unplace(&self, name: &str, version: u32) {
        match self {
            Self::Local { .. } => {
                let _ = std::fs::remove_dir_all(self.version_dir(name, version));
            }
            Self::Object { objects, .. } => {
                if let Err(e) = objects.delete_dir(&key(name, version)) {
                    tracing::warn!(name, version, error = %e, "could not remove an unregistered upload");
                }
            }
        }
    }

    /// A local directory holding `info`'s files (downloaded into the cache first if needed).
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] when the object store's copy is missing or does not match
    /// its recorded hash; [`Error::ObjectStore`], [`Error::Io`].
    pub(super) fn local_dir(&self, info: &VersionInfo) -> Result<PathBuf> {
        let (objects, cache_dir) = match self {
            Self::Local { .. } => return Ok(self.version_dir(&info.name, info.version)),
            Self::Object { objects, cache_dir } => (objects, cache_dir),
        };
        let unusable = |why: &str| Error::FailedPrecondition {
            reason: format!(
                "model `{}` version {} cannot be loaded: {why}",
                info.name, info.version
            ),
        };
        let Some(hash) = info.content_hash.as_deref() else {
            return Err(unusable("its registry row has no content hash"));
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unusable("its registry row has a malformed content hash"));
        }
        let cached = cache_dir.join(hash);
        if cached.is_dir() {
            return Ok(cached);
        }
        let tmp = cache_dir.join(format!("{TMP_PREFIX}{}", unique_suffix()));
        let fetched = objects.get_dir(&key(&info.name, info.version), &tmp);
        let checked = fetched.and_then(|n| {
            if n == 0 {
                return Err(unusable("its files are missing from the object store"));
            }
            if content_hash(&tmp)? != hash {
                return Err(unusable(
                    "the object store's copy does not match its content hash",
                ));
            }
            Ok(())
        });
        if let Err(e) = checked {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if std::fs::rename(&tmp, &cached).is_err() {
            // Another request downloaded it meanwhile.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        tracing::info!(name = %info.name, version = info.version, hash, "artifact downloaded into the local cache");
        Ok(cached)
    }

    /// Whether the files of `name`@`version` are stored (the local layout checks the directory;
    /// the object store is trusted: rows are committed after the upload).
    pub(super) fn has(&self, name: &str, version: u32) -> bool {
        match self {
            Self::Local { .. } => self.version_dir(name, version).join("artifact.json").is_file(),
            Self::Object { .. } => true,
        }
    }

    /// Remove one version's files, or every version of `name`.
    pub(super) fn remove(&self, name: &str, version: Option<u32>) {
        match self {
            Self::Local { models_dir } => match version {
                Some(v) => remove_dir(&self.version_dir(name, v)),
                None => remove_dir(&models_dir.join(name)),
            },
            Self::Object { objects, .. } => {
                let dir = match version {
                    Some(v) => key(name, v),
                    None => format!("models/{name}"),
                };
                if let Err(e) = objects.delete_dir(&dir) {
                    tracing::warn!(name, ?version, error = %e, "could not delete artifact objects");
                }
            }
        }
    }
}
