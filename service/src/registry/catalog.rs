//! [`Registry`]: the database, the artifact tree and the model cache of one data directory.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use statecast_models::artifact::{Artifact, Evaluation};
use statecast_models::device::DeviceSpec;

use super::artifacts::{ARTIFACT_CACHE_DIR, ArtifactStore};
use super::cache::ModelCache;
use super::meta::{Catalog, SqliteCatalog};
use super::meta_pg::PgCatalog;
use super::{LoadedModel, ModelDetail, ModelRef, ModelSummary, Selector, VersionInfo};
use super::{import, sweep};
use crate::backend::{RegistryUrl, Storage};
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
    artifacts: ArtifactStore,
    max_import_bytes: u64,
    import_roots: AllowedRoots,
    device: DeviceSpec,
    db: Box<dyn Catalog>,
    cache: Mutex<ModelCache>,
    /// Deletions so far (see [`Registry::deletions`]).
    deletions: std::sync::atomic::AtomicU64,
    staging_hook: Mutex<Option<StagingHook>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("artifacts", &self.artifacts)
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
        Self::with_storage(&Storage::embedded(data_dir), config)
    }

    /// Open the registry on `storage`: SQLite or PostgreSQL for the catalog, the data
    /// directory or an object store for the files. The start-up sweep of the artifact tree
    /// runs only on a local tree (see [`QUARANTINE_DIR`](super::QUARANTINE_DIR)).
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`Error::Postgres`] when PostgreSQL cannot be reached.
    pub fn with_storage(storage: &Storage, config: RegistryConfig) -> Result<Self> {
        let data_dir = &storage.data_dir;
        std::fs::create_dir_all(data_dir).map_err(io(format!("creating {}", data_dir.display())))?;
        let db: Box<dyn Catalog> = match &storage.registry {
            RegistryUrl::Sqlite(path) => Box::new(SqliteCatalog::open(path)?),
            RegistryUrl::Postgres(url) => Box::new(PgCatalog::connect(url)?),
        };
        let artifacts = match &storage.objects {
            None => {
                let models_dir = data_dir.join(MODELS_DIR);
                std::fs::create_dir_all(&models_dir)
                    .map_err(io(format!("creating {}", models_dir.display())))?;
                let quarantined = sweep::sweep(db.as_ref(), data_dir, &models_dir)?;
                if quarantined > 0 {
                    tracing::warn!(
                        quarantined,
                        dir = %data_dir.join(super::QUARANTINE_DIR).display(),
                        "model directories without a registry row were quarantined (not deleted)"
                    );
                }
                ArtifactStore::Local { models_dir }
            }
            Some(objects) => {
                let cache_dir = data_dir.join(ARTIFACT_CACHE_DIR);
                std::fs::create_dir_all(&cache_dir)
                    .map_err(io(format!("creating {}", cache_dir.display())))?;
                sweep::remove_leftovers(&cache_dir);
                ArtifactStore::Object {
                    objects: objects.clone(),
                    cache_dir,
                }
            }
        };
        Ok(Self {
            artifacts,
            max_import_bytes: config.max_import_bytes,
            import_roots: config.import_roots,
            device: config.device,
            db,
            cache: Mutex::new(ModelCache::new(config.cache_capacity)),
            staging_hook: Mutex::new(None),
            deletions: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The directory of one version's artifact in the embedded layout (`<data-dir>/models/…`);
    /// use [`artifact_dir`](Self::artifact_dir) to read a version's files in any mode.
    pub fn version_dir(&self, name: &str, version: u32) -> PathBuf {
        self.artifacts.version_dir(name, version)
    }

    /// A local directory holding the files of `info` (in scale-out mode, the local cache,
    /// downloaded from the object store first when needed).
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] when the stored copy is missing or corrupt,
    /// [`Error::ObjectStore`], [`Error::Io`].
    pub fn artifact_dir(&self, info: &VersionInfo) -> Result<PathBuf> {
        self.artifacts.local_dir(info)
    }

    /// Whether `name`@`version`'s files are stored (readiness checks).
    pub fn has_artifact(&self, name: &str, version: u32) -> bool {
        self.artifacts.has(name, version)
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
        self.register_as(name, source, labels, None)
    }

    /// [`register`](Self::register) for training job `job`: a job registers at most one
    /// version, so when it already did (a worker that registered, then died before recording
    /// the job's end, and another worker ran the job again) that version is returned and
    /// nothing new is registered.
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub fn register_for_job(
        &self,
        name: &str,
        source: &Path,
        labels: &[String],
        job: i64,
    ) -> Result<VersionInfo> {
        if let Some(done) = self.db.version_of_job(job)? {
            tracing::info!(job, name = %done.name, version = done.version, "the job had already registered its model");
            return Ok(done);
        }
        match self.register_as(name, source, labels, Some(job)) {
            Ok(info) => Ok(info),
            // A concurrent run of the same job won the unique job_id.
            Err(e) => match self.db.version_of_job(job)? {
                Some(done) => Ok(done),
                None => Err(e),
            },
        }
    }

    /// The version training job `job` registered, if any.
    ///
    /// # Errors
    /// [`Error::Database`] / [`Error::Postgres`].
    pub fn version_of_job(&self, job: i64) -> Result<Option<VersionInfo>> {
        self.db.version_of_job(job)
    }

    fn register_as(
        &self,
        name: &str,
        source: &Path,
        labels: &[String],
        job: Option<i64>,
    ) -> Result<VersionInfo> {
        check_name("name", name)?;
        for (i, l) in labels.iter().enumerate() {
            check_label(&format!("labels[{i}]"), l)?;
        }
        let mut labels = labels.to_vec();
        labels.sort();
        labels.dedup();

        let staging = self.artifacts.staging_dir();
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
        let published = self.publish(name, &staging, &artifact, &labels, source, job);
        if staging.exists() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        let info = published?;
        tracing::info!(name, version = info.version, kind = %info.kind, "registered a model version");
        // If loading the registered copy fails here, the first request loads it.
        let device = self.device.device()?;
        if let Ok(dir) = self.artifacts.local_dir(&info)
            && let Ok((artifact, model)) = Artifact::load(&dir, &device)
        {
            lock(&self.cache).insert(&info, Arc::new(LoadedModel::new(artifact, model, device)));
        }
        Ok(info)
    }

    /// The catalog transaction of a registration: take the next version number of `name`, put
    /// the verified `staging` copy in place and commit the row with its labels.
    fn publish(
        &self,
        name: &str,
        staging: &Path,
        artifact: &Artifact,
        labels: &[String],
        source: &Path,
        job: Option<i64>,
    ) -> Result<VersionInfo> {
        let now = Utc::now();
        let mut placed: Option<u32> = None;
        let mut place = |version: u32| -> Result<VersionInfo> {
            let hash = self.artifacts.place(name, version, staging)?;
            placed = Some(version);
            Ok(VersionInfo {
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
                content_hash: Some(hash),
            })
        };
        let source = source.to_string_lossy();
        let committed = self.db.publish(name, labels, &source, job, now, &mut place);
        if committed.is_err()
            && let Some(v) = placed
        {
            self.artifacts.unplace(name, v);
        }
        committed
    }

    /// Every model, by name.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn list(&self) -> Result<Vec<ModelSummary>> {
        self.db.summaries()
    }

    /// A model with every version.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`], [`Error::Database`].
    pub fn get(&self, name: &str) -> Result<ModelDetail> {
        self.db.detail(name)?.ok_or_else(|| Error::ModelNotFound {
            name: name.into(),
            version: None,
        })
    }

    /// The version `r` selects.
    ///
    /// # Errors
    /// [`Error::ModelNotFound`], [`Error::LabelNotFound`], [`Error::Database`].
    pub fn resolve(&self, r: &ModelRef) -> Result<VersionInfo> {
        self.db.resolve(r)
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
        let deleted = self.db.delete(name, version)?;
        lock(&self.cache).remove(name);
        self.deletions.fetch_add(1, std::sync::atomic::Ordering::Release);
        self.artifacts.remove(name, version);
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
        self.db.set_label(name, label, version)?;
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
        let dir = self.artifacts.local_dir(info)?;
        let (artifact, model) = Artifact::load(&dir, &device).map_err(|e| Error::FailedPrecondition {
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
