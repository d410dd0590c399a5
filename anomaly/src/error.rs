//! The anomaly crate's error type. The service maps each variant onto its own error (and from
//! there onto a gRPC status); the CLI prints it.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised while fitting, scoring, evaluating or writing detections.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting, input or saved detector is invalid; `field` names the offending field.
    #[error("invalid argument `{field}`: {reason}")]
    InvalidArgument {
        /// The field (setting, request field or CLI flag).
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Reading, scaling or validating a dataset failed.
    #[error(transparent)]
    Data(#[from] statecast_pipelines::Error),
    /// Loading or running a model artifact failed.
    #[error(transparent)]
    Model(#[from] statecast_models::error::Error),
    /// The requested compute device is not available.
    #[error(transparent)]
    Device(#[from] statecast_models::device::DeviceError),
    /// A bug: a state that should not happen (a detector that cannot be serialised, …).
    #[error("internal error: {0}")]
    Internal(String),
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::InvalidArgument`] for `field`.
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
