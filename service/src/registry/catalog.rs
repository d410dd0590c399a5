//! [`Registry`]: the database, the artifact tree and the model cache of one data directory.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use rusqlite::Connection;
use statecast_models::artifact::{Artifact, Evaluation};
use statecast_models::device::DeviceSpec;

use super::cache::ModelCache;
use super::store;
use super::{LoadedModel, ModelDetail, ModelRef, ModelSummary, Selector, VersionInfo};
use crate::forecast::intervals::IntervalStats;
use crate::{Error, Result};

/// The database file inside the data directory.
pub const DB_FILE: &str = "registry.sqlite";
/// The artifact tree inside the data directory.
pub const MODELS_DIR: &str = "models";
/// Loaded models kept in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 8;

/// The registry of one data directory.
#[derive(Debug)]
pub struct Registry {
    models_dir: PathBuf,
    db: Mutex<Connection>,
    cache: Mutex<ModelCache>,
    /// Deletions so far (see [`Registry::deletions`]).
    deletions: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Model names and labels: 1–64 characters of `[A-Za-z0-9._-]`, not starting with `.`.
pub(super) fn check_name(field: &str, name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            field: field.into(),
            reason: format!(
                "`{name}` is not a valid name: use 1–64 characters of A-Z a-z 0-9 . _ -, not starting with '.'"
            ),
        })
    }
}

fn check_label(field: &str, label: &str) -> Result<()> {
    check_name(field, label)?;
    if label.parse::<u64>().is_ok() {
        return Err(Error::InvalidArgument {
            field: field.into(),
            reason: format!("label `{label}` would read as a version number"),
        });
    }
    Ok(())
}

/// The artifact's forecast errors as `split.measure` numbers (`val.mse`, `test.windows`), the
/// table a registered version reports.
fn error_table(evaluation: &Evaluation) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (split, errors) in [("test", evaluation.test), ("val", evaluation.val)] {
        if let Some(e) = errors {
            out.insert(format!("{split}.mse"), e.mse);
            out.insert(format!("{split}.mae"), e.mae);
            out.insert(format!("{split}.windows"), e.windows as f64);
        }
    }
    out
}

/// Copy the files of `src` into the new directory `dst`, recursively.
fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if std::fs::metadata(entry.path())?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// A name for a temporary sibling that no other call uses.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// Remove `dir` by renaming it aside first, so a crash never leaves a half-deleted version
/// under its real name.
fn remove_dir(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trash = dir.with_file_name(format!(".trash-{name}-{}", unique_suffix()));
    let target = if std::fs::rename(dir, &trash).is_ok() {
        trash
    } else {
        dir.to_path_buf()
    };
    if let Err(e) = std::fs::remove_dir_all(&target) {
        tracing::warn!(dir = %target.display(), error = %e, "could not remove a deleted model directory");
    }
}

impl Registry {
    /// Open the registry of `data_dir` (created if missing), with the default cache size.
    ///
    /// # Errors
    /// [`Error::Io`] for the directories, [`Error::Database`] for the database,
    /// [`Error::FailedPrecondition`] for a database written by a newer statecast.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::with_cache_capacity(data_dir, DEFAULT_CACHE_CAPACITY)
    }

    /// Open with room for `capacity` loaded models in memory.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn with_cache_capacity(data_dir: &Path, capacity: usize) -> Result<Self> {
        let models_dir = data_dir.join(MODELS_DIR);
        std::fs::create_dir_all(&models_dir).map_err(io(format!("creating {}", models_dir.display())))?;
        let conn = store::open(&data_dir.join(DB_FILE))?;
        let registry = Self {
            models_dir,
            db: Mutex::new(conn),
            cache: Mutex::new(ModelCache::new(capacity)),
            deletions: std::sync::atomic::AtomicU64::new(0),
        };
        registry.sweep()?;
        Ok(registry)
    }

    /// The directory of one version's artifact.
    pub fn version_dir(&self, name: &str, version: u32) -> PathBuf {
        self.models_dir.join(name).join(version.to_string())
    }

    /// Remove temporary and trash directories and version directories without a row.
    fn sweep(&self) -> Result<()> {
        let known = store::all_versions(&lock(&self.db))?;
        let entries = std::fs::read_dir(&self.models_dir).map_err(io("listing the models directory"))?;
        for model in entries.flatten() {
            let name = model.file_name().to_string_lossy().into_owned();
            let path = model.path();
            if name.starts_with('.') {
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            let Ok(versions) = std::fs::read_dir(&path) else {
                continue;
            };
            let rows = known.get(&name).map(Vec::as_slice).unwrap_or_default();
            for v in versions.flatten() {
                let keep = v
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                    .is_some_and(|n| rows.contains(&n));
                if !keep {
                    tracing::warn!(dir = %v.path().display(), "removing an unregistered model directory");
                    let _ = std::fs::remove_dir_all(v.path());
                }
            }
            if rows.is_empty() {
                let _ = std::fs::remove_dir(&path);
            }
        }
        Ok(())
    }

    /// Import the artifact directory `source` as the next version of `name` and point `labels`
    /// at it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad name or label (`name`, `labels[i]`) or an artifact
    /// that does not load (`path`); [`Error::Io`] / [`Error::Database`] when storing fails.
    pub fn register(&self, name: &str, source: &Path, labels: &[String]) -> Result<VersionInfo> {
        check_name("name", name)?;
        for (i, l) in labels.iter().enumerate() {
            check_label(&format!("labels[{i}]"), l)?;
        }
        if !source.is_dir() {
            return Err(Error::InvalidArgument {
                field: "path".into(),
                reason: format!("{} is not a directory on the server", source.display()),
            });
        }
        let device = DeviceSpec::Cpu.device()?;
        let (artifact, model) = Artifact::load(source, &device).map_err(|e| Error::InvalidArgument {
            field: "path".into(),
            reason: e.to_string(),
        })?;
        let now = Utc::now();
        let mut labels = labels.to_vec();
        labels.sort();
        labels.dedup();

        let mut conn = lock(&self.db);
        let tx = conn.transaction().map_err(store::db("starting a transaction"))?;
        let version = store::next_version(&tx, name, &now.to_rfc3339())?;
        let model_dir = self.models_dir.join(name);
        std::fs::create_dir_all(&model_dir).map_err(io(format!("creating {}", model_dir.display())))?;
        let dest = self.version_dir(name, version);
        let tmp = model_dir.join(format!(".tmp-{version}-{}", unique_suffix()));
        if dest.exists() {
            // Left by a crash between rename and commit: not registered, safe to replace.
            std::fs::remove_dir_all(&dest).map_err(io(format!("removing stale {}", dest.display())))?;
        }
        let staged = copy_dir(source, &tmp).and_then(|()| std::fs::rename(&tmp, &dest));
        if let Err(e) = staged {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Io {
                context: format!("copying {} into the registry", source.display()),
                source: e,
            });
        }
        let info = VersionInfo {
            name: name.to_string(),
            version,
            kind: artifact.model.kind().to_string(),
            columns: artifact.schema.columns.clone(),
            frequency: artifact.schema.frequency.clone(),
            lookback: artifact.schema.lookback,
            horizon: artifact.schema.horizon,
            created_at: artifact.created_at,
            registered_at: now,
            labels: labels.clone(),
            metrics: error_table(&artifact.evaluation),
            intervals: IntervalStats::from_artifact(&artifact),
        };
        let committed = (|| {
            store::insert_version(&tx, &info, source)?;
            for l in &labels {
                store::set_label(&tx, name, l, version)?;
            }
            tx.commit().map_err(store::db("committing a registration"))
        })();
        drop(conn);
        if let Err(e) = committed {
            let _ = std::fs::remove_dir_all(&dest);
            return Err(e);
        }
        tracing::info!(name, version, kind = %info.kind, "registered a model version");
        // burn reads weights lazily from the file they were loaded from: the model loaded from
        // `source` (which the caller may delete now) must not be served. Cache the registry's
        // own copy instead; if that fails, the first request loads it.
        drop((artifact, model));
        if let Ok((artifact, model)) = Artifact::load(&dest, &device) {
            lock(&self.cache).insert(
                &info,
                Arc::new(LoadedModel {
                    artifact,
                    model,
                    device,
                }),
            );
        }
        Ok(info)
    }

    /// Every model, by name.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn list(&self) -> Result<Vec<ModelSummary>> {
        store::summaries(&lock(&self.db))
    }

    /// A model with every version.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`], [`Error::Database`].
    pub fn get(&self, name: &str) -> Result<ModelDetail> {
        let conn = lock(&self.db);
        let versions = store::versions(&conn, name, None)?;
        if versions.is_empty() {
            return Err(Error::ModelNotFound {
                name: name.into(),
                version: None,
            });
        }
        Ok(ModelDetail {
            name: name.into(),
            labels: store::labels(&conn, name)?,
            versions,
        })
    }

    /// The version `r` selects.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`], [`Error::LabelNotFound`], [`Error::Database`].
    pub fn resolve(&self, r: &ModelRef) -> Result<VersionInfo> {
        let conn = lock(&self.db);
        let version = store::resolve(&conn, r)?;
        store::versions(&conn, &r.name, Some(version))?
            .pop()
            .ok_or_else(|| Error::ModelNotFound {
                name: r.name.clone(),
                version: Some(version),
            })
    }

    /// How many [`delete`](Self::delete) calls have succeeded since the registry was opened: a
    /// counter that holders of loaded models (monitor streams) read per point, one atomic load,
    /// to learn cheaply that a model they use may be gone.
    pub fn deletions(&self) -> u64 {
        self.deletions.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Delete one version, or the whole model; returns the versions removed.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`], [`Error::Database`].
    pub fn delete(&self, name: &str, version: Option<u32>) -> Result<Vec<u32>> {
        let deleted = {
            let mut conn = lock(&self.db);
            let tx = conn.transaction().map_err(store::db("starting a transaction"))?;
            let deleted = store::delete(&tx, name, version)?;
            tx.commit().map_err(store::db("committing a deletion"))?;
            deleted
        };
        lock(&self.cache).remove(name);
        self.deletions.fetch_add(1, std::sync::atomic::Ordering::Release);
        match version {
            Some(v) => remove_dir(&self.version_dir(name, v)),
            None => remove_dir(&self.models_dir.join(name)),
        }
        tracing::info!(name, ?deleted, "deleted model versions");
        Ok(deleted)
    }

    /// Point `label` of `name` at `version` (default: the latest).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad label, [`Error::ModelNotFound`],
    /// [`Error::Database`].
    pub fn set_label(&self, name: &str, label: &str, version: Option<u32>) -> Result<VersionInfo> {
        check_label("label", label)?;
        let selector = version.map_or(Selector::Latest, Selector::Version);
        let r = ModelRef {
            name: name.into(),
            selector,
        };
        {
            let conn = lock(&self.db);
            let v = store::resolve(&conn, &r)?;
            store::set_label(&conn, name, label, v)?;
        }
        self.resolve(&ModelRef {
            name: name.into(),
            selector: Selector::Label(label.into()),
        })
    }

    /// The loaded model of `info` (from the cache, or loaded on the CPU and cached).
    ///
    /// # Errors
    /// [`Error::Model`] when the stored artifact no longer loads, [`Error::Device`].
    pub fn load(&self, info: &VersionInfo) -> Result<Arc<LoadedModel>> {
        if let Some(m) = lock(&self.cache).get(info) {
            return Ok(m);
        }
        let device = DeviceSpec::Cpu.device()?;
        let (artifact, model) = Artifact::load(&self.version_dir(&info.name, info.version), &device)
            .map_err(|e| Error::FailedPrecondition {
                reason: format!(
                    "model `{}` version {} cannot be loaded: {e}",
                    info.name, info.version
                ),
            })?;
        let loaded = Arc::new(LoadedModel {
            artifact,
            model,
            device,
        });
        lock(&self.cache).insert(info, loaded.clone());
        Ok(loaded)
    }
}
