//! Server operations: TLS, bearer-token auth for mutating RPCs, per-RPC telemetry (tracing
//! spans and Prometheus metrics on an HTTP port) and a concurrency limit on forecasts. (The
//! client-side connection helper belongs to the CLI: `cli/client.rs` in the binary.)
//!
//! The server-side pieces are tower layers that wrap the whole tonic router
//! ([`crate::server::serve`] installs them), so every service — including the ones other
//! modules add later — is covered without per-handler code:
//!
//! ```text
//! request → TelemetryLayer → AuthLayer → ConcurrencyLimitLayer → tonic router → service
//! ```
pub mod auth;
pub mod body;
pub mod error;
pub mod exposure;
pub mod future;
pub mod limit;
pub mod metrics_http;
pub mod telemetry;
pub mod tls;

pub use error::OpsError;
