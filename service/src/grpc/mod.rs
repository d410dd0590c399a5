//! gRPC handlers: each converts the request ([`crate::convert`]), calls the core
//! ([`crate::registry`], [`crate::forecast`]) off the async runtime, and converts the response.
pub mod forecast;
pub mod models;
pub mod monitor;
pub mod point_stream;
pub mod training;

use crate::{Error, Result};

/// Run blocking core work (SQLite, file copies, burn) on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("a worker task failed: {e}")))?
}
