//! Where the registry, the job queue and the artifacts live.
//!
//! * **Embedded** (the default): the registry and the job queue in `<data-dir>/registry.sqlite`,
//!   artifacts and checkpoints under the data directory. One server.
//! * **Scale-out**: the registry and the job queue on PostgreSQL (`--registry postgres://…`),
//!   artifacts and checkpoints in an object store (`--object-store file:///dir | s3://…`).
//!   Any number of servers share them: API servers answer from the shared registry, workers
//!   claim jobs from the shared queue under a lease, and each server keeps a local cache of
//!   the artifacts it loads, keyed by their content hash (`<data-dir>/artifact-cache/<sha256>/`).
//!
//! The registry and the queue each sit behind one trait ([`crate::registry::Catalog`],
//! [`crate::jobs::JobQueue`]) with a SQLite and a PostgreSQL implementation.
pub mod objects;
pub mod pg;
#[doc(hidden)]
pub mod testdb;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use objects::Objects;
pub use pg::Pg;

use crate::{Error, Result};

/// The database behind the registry and the job queue (`--registry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryUrl {
    /// `sqlite:PATH`: an embedded SQLite file.
    Sqlite(PathBuf),
    /// `postgres://…` / `postgresql://…`: a PostgreSQL database shared by several servers.
    Postgres(String),
}

impl std::str::FromStr for RegistryUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(bad_registry(
                    "sqlite: needs a file path (sqlite:/var/lib/statecast/registry.sqlite)",
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_string()));
        }
        Err(bad_registry(
            "use sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB",
        ))
    }
}

impl std::fmt::Display for RegistryUrl {
    /// The URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            Self::Postgres(u) => match url::Url::parse(u) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    write!(f, "{parsed}")
                }
                Err(_) => write!(f, "postgres://…"),
            },
        }
    }
}

fn bad_registry(reason: &str) -> Error {
    Error::InvalidArgument {
        field: "--registry".into(),
        reason: reason.into(),
    }
}

/// How one server stores its registry, jobs and artifacts.
#[derive(Debug, Clone, Default)]
pub struct StorageConfig {
    /// `None`: SQLite in the data directory.
    pub registry: Option<RegistryUrl>,
    /// `None`: artifacts and checkpoints under the data directory.
    pub object_store: Option<String>,
}

/// The opened storage of one server: the database connection (shared by the registry and the
/// job queue when both are on PostgreSQL they each get their own connection) and the object store.
#[derive(Debug, Clone)]
pub struct Storage {
    /// Where the registry and jobs are.
    pub registry: RegistryUrl,
    /// The artifact and checkpoint store, if not the data directory.
    pub objects: Option<Arc<Objects>>,
    /// The server's data directory (local caches and scratch in scale-out mode).
    pub data_dir: PathBuf,
}

impl Storage {
    /// Resolve `config` for the data directory `data_dir` and open the object store.
    ///
    /// # Errors
    /// As [`Objects::open`].
    pub fn open(data_dir: &Path, config: &StorageConfig) -> Result<Self> {
        let registry = config
            .registry
            .clone()
            .unwrap_or_else(|| RegistryUrl::Sqlite(data_dir.join(crate::registry::DB_FILE)));
        let objects = match &config.object_store {
            Some(url) => Some(Arc::new(Objects::open(url)?)),
            None => None,
        };
        Ok(Self {
            registry,
            objects,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// Embedded storage in `data_dir` (SQLite, local artifacts).
    pub fn embedded(data_dir: &Path) -> Self {
        Self {
            registry: RegistryUrl::Sqlite(data_dir.join(crate::registry::DB_FILE)),
            objects: None,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Whether several servers may share this storage (PostgreSQL).
    pub fn shared(&self) -> bool {
        matches!(self.registry, RegistryUrl::Postgres(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_parse_and_hide_passwords() {
        assert_eq!(
            "sqlite:/tmp/r.sqlite".parse::<RegistryUrl>().unwrap(),
            RegistryUrl::Sqlite("/tmp/r.sqlite".into())
        );
        let pg: RegistryUrl = "postgres://sc:secret@db:5432/statecast".parse().unwrap();
        let shown = pg.to_string();
        assert!(!shown.contains("secret") && shown.contains("db:5432"), "{shown}");
        for bad in ["mysql://x", "sqlite:", "", "/tmp/x.sqlite"] {
            let e = bad.parse::<RegistryUrl>().unwrap_err().to_string();
            assert!(e.contains("--registry"), "{bad}: {e}");
        }
    }
}
