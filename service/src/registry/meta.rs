//! [`Catalog`]: the registry's metadata (models, versions, labels, version counters) behind one
//! trait, with the embedded SQLite implementation ([`SqliteCatalog`]); the PostgreSQL one is
//! [`super::meta_pg::PgCatalog`]. Artifact files are not the catalog's business: a
//! registration hands it a `place` step that puts the files where they belong, run inside
//! the catalog's transaction once the version number is known.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::{ModelDetail, ModelRef, ModelSummary, VersionInfo, store};
use crate::Result;

/// Puts a staged artifact in place as version `n` and describes it.
pub type PlaceVersion<'a> = &'a mut dyn FnMut(u32) -> Result<VersionInfo>;

/// The registry's metadata store. Implementations serialise registrations of one name (so a
/// version number is taken once) and keep every method atomic.
pub trait Catalog: Send + Sync + std::fmt::Debug {
    /// Every model, by name.
    fn summaries(&self) -> Result<Vec<ModelSummary>>;
    /// A model with its versions and labels, read together; `None` when it has no version.
    fn detail(&self, name: &str) -> Result<Option<ModelDetail>>;
    /// The version `r` selects, with its labels.
    ///
    /// # Errors
    /// [`crate::Error::ModelNotFound`], [`crate::Error::LabelNotFound`].
    fn resolve(&self, r: &ModelRef) -> Result<VersionInfo>;
    /// The version job `job` registered, if any.
    fn version_of_job(&self, job: i64) -> Result<Option<VersionInfo>>;
    /// In one transaction: take the next version number of `name`, run `place(number)`, insert
    /// the version it describes (registered by `job`, copied from `source`) and point `labels`
    /// at it. Nothing is recorded when any step fails (the caller removes what `place` wrote).
    fn publish(
        &self,
        name: &str,
        labels: &[String],
        source: &str,
        job: Option<i64>,
        now: DateTime<Utc>,
        place: PlaceVersion<'_>,
    ) -> Result<VersionInfo>;
    /// Point `label` at `version` (default: the latest).
    ///
    /// # Errors
    /// [`crate::Error::ModelNotFound`].
    fn set_label(&self, name: &str, label: &str, version: Option<u32>) -> Result<()>;
    /// Delete one version, or the whole model; returns the versions removed.
    ///
    /// # Errors
    /// [`crate::Error::ModelNotFound`].
    fn delete(&self, name: &str, version: Option<u32>) -> Result<Vec<u32>>;
    /// Version numbers with a row, by model (the start-up sweep of a local artifact tree).
    fn all_versions(&self) -> Result<BTreeMap<String, Vec<u32>>>;
    /// Make sure `name`'s next version is at least `next`.
    fn raise_counter(&self, name: &str, next: u32) -> Result<()>;
}

/// The embedded catalog: one SQLite connection (WAL) behind a mutex.
#[derive(Debug)]
pub struct SqliteCatalog {
    conn: Mutex<Connection>,
}

impl SqliteCatalog {
    /// Open (creating and migrating) the database at `path`.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::FailedPrecondition`] for a newer schema.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            conn: Mutex::new(store::open(path)?),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Catalog for SqliteCatalog {
    fn summaries(&self) -> Result<Vec<ModelSummary>> {
        store::summaries(&self.lock())
    }

    fn detail(&self, name: &str) -> Result<Option<ModelDetail>> {
        let conn = self.lock();
        let versions = store::versions(&conn, name, None)?;
        if versions.is_empty() {
            return Ok(None);
        }
        Ok(Some(ModelDetail {
            name: name.into(),
            labels: store::labels(&conn, name)?,
            versions,
        }))
    }

    fn resolve(&self, r: &ModelRef) -> Result<VersionInfo> {
        let conn = self.lock();
        let version = store::resolve(&conn, r)?;
        store::versions(&conn, &r.name, Some(version))?
            .pop()
            .ok_or_else(|| crate::Error::ModelNotFound {
                name: r.name.clone(),
                version: Some(version),
            })
    }

    fn version_of_job(&self, job: i64) -> Result<Option<VersionInfo>> {
        let conn = self.lock();
        let Some((name, version)) = store::version_of_job(&conn, job)? else {
            return Ok(None);
        };
        Ok(store::versions(&conn, &name, Some(version))?.pop())
    }

    fn publish(
        &self,
        name: &str,
        labels: &[String],
        source: &str,
        job: Option<i64>,
        now: DateTime<Utc>,
        place: PlaceVersion<'_>,
    ) -> Result<VersionInfo> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(store::db("starting a transaction"))?;
        let version = store::next_version(&tx, name, &now.to_rfc3339())?;
        let mut info = place(version)?;
        info.labels = labels.to_vec();
        store::insert_version(&tx, &info, source, job)?;
        for l in labels {
            store::set_label(&tx, name, l, version)?;
        }
        tx.commit().map_err(store::db("committing a registration"))?;
        Ok(info)
    }

    fn set_label(&self, name: &str, label: &str, version: Option<u32>) -> Result<()> {
        let selector = version.map_or(super::Selector::Latest, super::Selector::Version);
        let r = ModelRef {
            name: name.into(),
            selector,
        };
        let conn = self.lock();
        let v = store::resolve(&conn, &r)?;
        store::set_label(&conn, name, label, v)
    }

    fn delete(&self, name: &str, version: Option<u32>) -> Result<Vec<u32>> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(store::db("starting a transaction"))?;
        let deleted = store::delete(&tx, name, version)?;
        tx.commit().map_err(store::db("committing a deletion"))?;
        Ok(deleted)
    }

    fn all_versions(&self) -> Result<BTreeMap<String, Vec<u32>>> {
        store::all_versions(&self.lock())
    }

    fn raise_counter(&self, name: &str, next: u32) -> Result<()> {
        store::raise_counter(&self.lock(), name, next)
    }
}
