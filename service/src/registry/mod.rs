//! The model registry: named, numbered versions of trained artifacts, movable labels, and a
//! cache of loaded models. Transport-agnostic (no gRPC types); the `ModelService` and
//! `ForecastService` call it.
//!
//! ```text
//! <data-dir>/registry.sqlite        models, versions, labels (WAL journal)
//! <data-dir>/models/<name>/<version>/artifact.json, weights.bpk
//! ```
//!
//! Registration validates the artifact by loading it, copies it into a temporary directory
//! next to its final place, renames it into place and inserts the row, all inside one
//! database transaction: if any step fails the copy is removed and the transaction rolls back,
//! so no half-registered version remains. Directories without a row (a crash between rename
//! and commit) are swept when the registry opens. Version numbers of a model only grow, also
//! across deletions of single versions.
//!
//! The methods block (SQLite, file copies, model loading): async callers run them in
//! `tokio::task::spawn_blocking`.
mod cache;
mod catalog;
mod store;
#[cfg(test)]
mod tests;
mod types;

pub use catalog::{DB_FILE, DEFAULT_CACHE_CAPACITY, MODELS_DIR, Registry};
pub use types::{LoadedModel, ModelDetail, ModelRef, ModelSummary, Selector, VersionInfo};
