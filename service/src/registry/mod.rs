//! The model registry: named, numbered versions of trained artifacts, movable labels, and a
//! cache of loaded models. Transport-agnostic (no gRPC types); the `ModelService` and
//! `ForecastService` call it.
//!
//! ```text
//! <data-dir>/registry.sqlite        models, versions, labels, version counters (WAL journal)
//! <data-dir>/models/<name>/<version>/artifact.json, weights.bpk[, detector file]
//! <data-dir>/quarantine/<stamp>/…   unregistered entries found at start-up (never deleted)
//! ```
//!
//! Registration copies only the artifact's own files (symbolic links and non-regular files
//! refused, total size bounded first) into a registry-owned staging directory and verifies the
//! copy loads, all without a lock; then one short transaction takes the version number,
//! renames the copy into place and inserts the row. If any step fails the copy is removed and
//! nothing is registered. Clients name artifact directories only under the server's import
//! roots ([`Registry::import`]); the server's own jobs register from its data directory
//! ([`Registry::register`]).
//!
//! At start-up the registry removes only its own leftovers (`.tmp-*` staging and `.trash-*`
//! deletion directories); any other directory without a row is moved to the quarantine. A
//! version number, once given, is never given again: a per-name counter outlives deleting
//! every version, and numbers found on disk are counted too.
//!
//! The methods block (SQLite, file copies, model loading): async callers run them in
//! `tokio::task::spawn_blocking`.
mod artifacts;
mod cache;
mod catalog;
mod import;
mod meta;
mod meta_pg;
#[cfg(test)]
mod shared_tests;
mod store;
mod sweep;
#[cfg(test)]
mod tests;
mod types;

pub use artifacts::ARTIFACT_CACHE_DIR;
pub use catalog::{
    DB_FILE, DEFAULT_CACHE_CAPACITY, DEFAULT_MAX_IMPORT_BYTES, IMPORT_ROOTS, MODELS_DIR, Registry,
    RegistryConfig,
};
pub use import::MAX_METADATA_BYTES;
pub use meta::{Catalog, PlaceVersion, SqliteCatalog};
pub use meta_pg::PgCatalog;
pub use sweep::QUARANTINE_DIR;
pub use types::{LoadedModel, ModelDetail, ModelRef, ModelSummary, Selector, VersionInfo};
