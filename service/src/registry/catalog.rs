//! [`Registry`]: the database, the artifact tree and the model cache of one data directory.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use rusqlite::Connection;
use statecast_models::artifact::{Artifact, Evaluation};
use statecast_models::device::DeviceSpec;

use super::cache::ModelCache;
use super::sweep::{TMP_PREFIX, TRASH_PREFIX};
use super::{LoadedModel, ModelDetail, ModelRef, ModelSummary, Selector, VersionInfo};
use super::{import, store, sweep};
use crate::forecast::intervals::IntervalStats;
use crate::roots::{AllowedRoots, RootError};
use crate::{Error, Result};

/// The database file inside the data directory.
pub const DB_FILE: &str = "registry.sqlite";
/// The artifact tree inside the data directory.
pub const MODELS_DIR: &str = "models";
/// Loaded models kept in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 8;
/// Largest artifact (all its files together) a registration copies: 2 GiB.
pub const DEFAULT_MAX_IMPORT_BYTES: u64 = 2048 << 20;
/// What import roots hold and the `serve` flag that sets them (for error messages).
pub const IMPORT_ROOTS: (&str, &str) = ("artifact directories", "--import-root");

/// How a [`Registry`] is set up.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Loaded models kept in memory.
    pub cache_capacity: usize,
    /// Largest artifact (all its files together) a registration copies, in bytes.
    pub max_import_bytes: u64,
    /// Directories under which [`Registry::import`] accepts client-named artifact directories.
    pub import_roots: AllowedRoots,
    /// Device the loaded models run on (forecasts and the monitor). Default the CPU.
    pub device: DeviceSpec,
}

impl Default for RegistryConfig {
    /// [`DEFAULT_CACHE_CAPACITY`], [`DEFAULT_MAX_IMPORT_BYTES`], no import roots.
    fn default() -> Self {
        Self {
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            max_import_bytes: DEFAULT_MAX_IMPORT_BYTES,
            import_roots: AllowedRoots::none(IMPORT_ROOTS.0, IMPORT_ROOTS.1),
            device: DeviceSpec::Cpu,
        }
    }
}

/// Runs while a registration holds its staged copy (tests hold an import in flight with it).
type StagingHook = Arc<dyn Fn() + Send + Sync>;

/// The registry of one data directory.
pub struct Registry {
    models_dir: PathBuf,
    max_import_bytes: u64,
    import_roots: AllowedRoots,
    device: DeviceSpec,
    db: Mutex<Connection>,
    cache: Mutex<ModelCache>,
    /// Deletions so far (see [`Registry::deletions`]).
    deletions: std::sync::atomic::AtomicU64,
    staging_hook: Mutex<Option<StagingHook>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("models_dir", &self.models_dir)
            .field("max_import_bytes", &self.max_import_bytes)
            .field("import_roots", &self.import_roots)
            .finish_non_exhaustive()
    }
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

/// A name for a temporary sibling that no other call uses.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// A client-named path the import roots refuse, as a registry error.
fn refused_path(e: RootError) -> Error {
    match e {
        e @ RootError::NoRoots { .. } => Error::FailedPrecondition {
            reason: e.to_string(),
        },
        e @ (RootError::NotAllowed { .. } | RootError::Malformed) => Error::InvalidArgument {
            field: "path".into(),
            reason: e.to_string(),
        },
    }
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
        Self::with_config(
            data_dir,
            RegistryConfig {
                cache_capacity: capacity,
                ..RegistryConfig::default()
            },
        )
    }

    /// Open with `config`. Entries of the artifact tree without a row are quarantined (see
    /// [`QUARANTINE_DIR`](super::QUARANTINE_DIR)), never deleted.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn with_config(data_dir: &Path, config: RegistryConfig) -> Result<Self> {
        let models_dir = data_dir.join(MODELS_DIR);
        std::fs::create_dir_all(&models_dir).map_err(io(format!("creating {}", models_dir.display())))?;
        let conn = store::open(&data_dir.join(DB_FILE))?;
        let quarantined = sweep::sweep(&conn, data_dir, &models_dir)?;
        if quarantined > 0 {
            tracing::warn!(
                quarantined,
                dir = %data_dir.join(super::QUARANTINE_DIR).display(),
                "model directories without a registry row were quarantined (not deleted)"
            );
        }
        Ok(Self {
            models_dir,
            max_import_bytes: config.max_import_bytes,
            import_roots: config.import_roots,
            device: config.device,
            db: Mutex::new(conn),
            cache: Mutex::new(ModelCache::new(config.cache_capacity)),
            staging_hook: Mutex::new(None),
            deletions: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The directory of one version's artifact.
    pub fn version_dir(&self, name: &str, version: u32) -> PathBuf {
        self.models_dir.join(name).join(version.to_string())
    }

    /// Run `hook` in every later registration after its files are staged, outside every lock.
    #[cfg(test)]
    pub(super) fn set_staging_hook(&self, hook: impl Fn() + Send + Sync + 'static) {
        *lock(&self.staging_hook) = Some(Arc::new(hook));
    }

    /// Register the artifact directory a client named: `requested` must resolve under the
    /// import roots (see [`crate::roots`]); then as [`register`](Self::register).
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] when the server has no import roots,
    /// [`Error::InvalidArgument`] (`path`) for a path that is missing or outside them (one
    /// answer for both); otherwise as [`register`](Self::register).
    pub fn import(&self, name: &str, requested: &str, labels: &[String]) -> Result<VersionInfo> {
        check_name("name", name)?;
        for (i, l) in labels.iter().enumerate() {
            check_label(&format!("labels[{i}]"), l)?;
        }
        let source = self.import_roots.resolve(requested).map_err(refused_path)?;
        self.register(name, &source, labels)
    }

    /// Copy the artifact in the server directory `source` (a job's output, or a path
    /// [`import`](Self::import) resolved) as the next version of `name` and point `labels` at it.
    ///
    /// Only the artifact's own files are copied, into a staging directory and verified there
    /// without holding the registry lock (a large copy does not block other calls); the lock is
    /// then held only to take the version number, rename the copy into place and commit its row.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad name or label (`name`, `labels[i]`) or a source that
    /// is not a plain artifact directory (`path`: symbolic links and non-regular files are
    /// refused); [`Error::ResourceExhausted`] for an artifact over the import limit;
    /// [`Error::Io`] / [`Error::Database`] when storing fails.
    pub fn register(&self, name: &str, source: &Path, labels: &[String]) -> Result<VersionInfo> {
        check_name("name", name)?;
        for (i, l) in labels.iter().enumerate() {
            check_label(&format!("labels[{i}]"), l)?;
        }
        let mut labels = labels.to_vec();
        labels.sort();
        labels.dedup();

        let staging = self.models_dir.join(format!("{TMP_PREFIX}{}", unique_suffix()));
        let staged = import::stage(source, &staging, self.max_import_bytes, &|| {
            let hook = lock(&self.staging_hook).clone();
            if let Some(hook) = hook {
                hook();
            }
        });
        let (artifact, model) = match staged {
            Ok(staged) => staged,
            Err(e) => {
                if staging.exists() {
                    let _ = std::fs::remove_dir_all(&staging);
                }
                return Err(e);
            }
        };
        // burn reads weights lazily from the file they were loaded from, and the staged file is
        // about to be renamed: drop this model, the cache loads the registered copy below.
        drop(model);
        let published = self.publish(name, &staging, &artifact, &labels, source);
        if published.is_err() && staging.exists() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        let info = published?;
        tracing::info!(name, version = info.version, kind = %info.kind, "registered a model version");
        // If loading the registered copy fails here, the first request loads it.
        let device = self.device.device()?;
        if let Ok((artifact, model)) = Artifact::load(&self.version_dir(name, info.version), &device) {
            lock(&self.cache).insert(&info, Arc::new(LoadedModel::new(artifact, model, device)));
        }
        Ok(info)
    }

    /// The short critical section of a registration: take the next version number of `name`,
    /// rename the verified `staging` copy into place and commit the row with its labels.
    fn publish(
        &self,
        name: &str,
        staging: &Path,
        artifact: &Artifact,
        labels: &[String],
        source: &Path,
    ) -> Result<VersionInfo> {
        let now = Utc::now();
        let mut conn = lock(&self.db);
        let tx = conn.transaction().map_err(store::db("starting a transaction"))?;
        let version = store::next_version(&tx, name, &now.to_rfc3339())?;
        let model_dir = self.models_dir.join(name);
        std::fs::create_dir_all(&model_dir).map_err(io(format!("creating {}", model_dir.display())))?;
        let dest = self.version_dir(name, version);
        if dest.exists() {
            // Numbers only grow and the sweep quarantines directories without a row, so this is
            // someone else's directory: keep it aside rather than overwrite or delete it.
            let aside = model_dir.join(format!("{version}.unregistered-{}", unique_suffix()));
            tracing::warn!(dir = %dest.display(), to = %aside.display(), "an unregistered directory held the next version's place; moved aside");
            std::fs::rename(&dest, &aside).map_err(io(format!("moving aside {}", dest.display())))?;
        }
        std::fs::rename(staging, &dest)
            .map_err(io(format!("moving the staged copy to {}", dest.display())))?;
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
            labels: labels.to_vec(),
            metrics: error_table(&artifact.evaluation),
            intervals: IntervalStats::from_artifact(artifact).map(|i| i.summary()),
        };
        let committed = (|| {
            store::insert_version(&tx, &info, source)?;
            for l in labels {
                store::set_label(&tx, name, l, version)?;
            }
            tx.commit().map_err(store::db("committing a registration"))
        })();
        if let Err(e) = committed {
            let _ = std::fs::remove_dir_all(&dest);
            return Err(e);
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

    /// The loaded model of `info` (from the cache, or loaded on the registry's device and cached).
    ///
    /// # Errors
    /// [`Error::Model`] when the stored artifact no longer loads, [`Error::Device`].
    pub fn load(&self, info: &VersionInfo) -> Result<Arc<LoadedModel>> {
        if let Some(m) = lock(&self.cache).get(info) {
            return Ok(m);
        }
        let device = self.device.device()?;
        let (artifact, model) = Artifact::load(&self.version_dir(&info.name, info.version), &device)
            .map_err(|e| Error::FailedPrecondition {
                reason: format!(
                    "model `{}` version {} cannot be loaded: {e}",
                    info.name, info.version
                ),
            })?;
        let loaded = Arc::new(LoadedModel::new(artifact, model, device));
        lock(&self.cache).insert(info, loaded.clone());
        Ok(loaded)
    }
}
