//! Errors of the operations layer (TLS material, client connections, the metrics endpoint).
use std::path::PathBuf;

/// Errors raised while setting up TLS, connecting a client or serving `/metrics`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// A PEM file could not be read.
    #[error("reading {what} {}: {source}", path.display())]
    ReadPem {
        /// Which file (certificate, key, CA certificate).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A setting is inconsistent (e.g. a certificate without its key).
    #[error("{0}")]
    Config(String),
    /// The server address is not a valid URI.
    #[error("invalid server address `{address}`: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The transport failed (TLS configuration, connecting).
    #[error("{context}: {source}")]
    Transport {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: tonic::transport::Error,
    },
    /// The bearer token cannot be sent as an HTTP header value.
    #[error("the auth token is not a valid header value (printable ASCII only)")]
    InvalidToken,
    /// The metrics endpoint could not bind or serve.
    #[error("metrics endpoint {context}: {source}")]
    Metrics {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: std::io::Error,
    },
}
