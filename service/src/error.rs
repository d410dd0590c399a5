//! The service crate's error type and its single mapping to gRPC status codes.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by the server and the functions the CLI shares with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request or setting is invalid; `field` names the offending field.
    #[error("invalid argument `{field}`: {reason}")]
    InvalidArgument {
        /// The field (request field path or CLI flag).
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Reading or validating a dataset failed.
    #[error(transparent)]
    Data(#[from] statecast_pipelines::Error),
    /// A model, training or artifact operation failed.
    #[error(transparent)]
    Model(#[from] statecast_models::error::Error),
    /// The requested compute device is not available.
    #[error(transparent)]
    Device(#[from] statecast_models::device::DeviceError),
    /// The transport failed to bind or serve.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Server reflection could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// No model of this name, or no such version of it.
    #[error("{}", match version {
        Some(v) => format!("model `{name}` has no version {v}"),
        None => format!("model `{name}` not found"),
    })]
    ModelNotFound {
        /// The model name.
        name: String,
        /// The version asked for (`None`: the model itself is missing).
        version: Option<u32>,
    },
    /// The model has no such label.
    #[error("model `{name}` has no label `{label}`")]
    LabelNotFound {
        /// The model name.
        name: String,
        /// The label asked for.
        label: String,
    },
    /// The request is valid but the state of the server or model does not allow it.
    #[error("{reason}")]
    FailedPrecondition {
        /// What is missing.
        reason: String,
    },
    /// The registry database failed.
    #[error("registry database: {context}: {source}")]
    Database {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: rusqlite::Error,
    },
    /// The PostgreSQL registry (scale-out mode) failed.
    #[error("registry database (PostgreSQL): {context}: {source}")]
    Postgres {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: postgres::Error,
    },
    /// The object store holding artifacts and checkpoints (scale-out mode) failed.
    #[error("object store: {context}: {source}")]
    ObjectStore {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: object_store::Error,
    },
    /// No training job with this id.
    #[error("training job `{id}` not found")]
    JobNotFound {
        /// The id asked for.
        id: String,
    },
    /// A bounded resource (the training queue) is full; retry later.
    #[error("{reason}")]
    ResourceExhausted {
        /// What is full.
        reason: String,
    },
    /// A bug or an unexpected server state (a worker task panicked, …).
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

/// Longest status message sent to a client, in bytes. Messages echo client input (names,
/// ids, paths); unbounded, a 100 kB id made the `grpc-message` header exceed HTTP/2's header
/// limit and the client saw a protocol error instead of the status (found by
/// `tests/tests/hostile_requests.rs`).
pub const MAX_STATUS_MESSAGE_BYTES: usize = 1024;

/// `message` cut to [`MAX_STATUS_MESSAGE_BYTES`] (on a character boundary, marked `…`).
pub fn bounded_message(mut message: String) -> String {
    if message.len() <= MAX_STATUS_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_STATUS_MESSAGE_BYTES - '…'.len_utf8();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push('…');
    message
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let message = bounded_message(err.to_string());
        match err {
            Error::InvalidArgument { .. } | Error::Data(_) | Error::Model(_) => {
                tonic::Status::invalid_argument(message)
            }
            Error::ModelNotFound { .. } | Error::LabelNotFound { .. } | Error::JobNotFound { .. } => {
                tonic::Status::not_found(message)
            }
            Error::ResourceExhausted { .. } => tonic::Status::resource_exhausted(message),
            Error::Device(_) | Error::FailedPrecondition { .. } => {
                tonic::Status::failed_precondition(message)
            }
            Error::Transport(_)
            | Error::Reflection(_)
            | Error::Io { .. }
            | Error::Database { .. }
            | Error::Postgres { .. }
            | Error::ObjectStore { .. }
            | Error::Internal(_) => tonic::Status::internal(message),
        }
    }
}

impl From<statecast_anomaly::Error> for Error {
    /// Each anomaly error becomes the service error of the same kind (same message, same status).
    fn from(err: statecast_anomaly::Error) -> Self {
        use statecast_anomaly::Error as A;
        match err {
            A::InvalidArgument { field, reason } => Error::InvalidArgument { field, reason },
            A::Data(e) => Error::Data(e),
            A::Model(e) => Error::Model(e),
            A::Device(e) => Error::Device(e),
            A::Internal(reason) => Error::Internal(reason),
            A::Io { context, source } => Error::Io { context, source },
        }
    }
}

impl From<statecast_pipelines::live::PointRefusal> for Error {
    /// A refused live point is `INVALID_ARGUMENT` on its field.
    fn from(r: statecast_pipelines::live::PointRefusal) -> Self {
        Error::InvalidArgument {
            field: r.field,
            reason: r.reason,
        }
    }
}

impl From<statecast_anomaly::session::SessionError<Error>> for Error {
    /// A refused monitor point: malformed points are `INVALID_ARGUMENT`, a full session
    /// `RESOURCE_EXHAUSTED`; model loading errors stay as the loader raised them.
    fn from(err: statecast_anomaly::session::SessionError<Error>) -> Self {
        use statecast_anomaly::session::SessionError as S;
        match err {
            S::InvalidPoint { field, reason } => Error::InvalidArgument { field, reason },
            err @ (S::TooManySeries { .. } | S::BudgetSpent { .. }) => Error::ResourceExhausted {
                reason: err.to_string(),
            },
            S::ModelDeleted { model } => Error::ModelNotFound {
                name: model,
                version: None,
            },
            S::Model(e) => e,
            S::Detection(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use statecast_anomaly::session::SessionError;
    use tonic::Code;

    use super::*;

    fn status(err: SessionError<Error>) -> tonic::Status {
        Error::from(err).into()
    }

    #[test]
    fn refused_monitor_points_keep_their_status_codes_and_messages() {
        let s = status(SessionError::InvalidPoint {
            field: "values[2]".into(),
            reason: "NaN (c) is not finite".into(),
        });
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "invalid argument `values[2]`: NaN (c) is not finite");
        let s = status(SessionError::TooManySeries { monitored: 2 });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(
            s.message(),
            "this stream already monitors 2 series (the server's limit); open another stream"
        );
        let s = status(SessionError::Model(Error::ModelNotFound {
            name: "nope".into(),
            version: None,
        }));
        assert_eq!(
            (s.code(), s.message()),
            (Code::NotFound, "model `nope` not found")
        );
        let s = status(SessionError::Detection(statecast_anomaly::Error::Internal(
            "x".into(),
        )));
        assert_eq!((s.code(), s.message()), (Code::Internal, "internal error: x"));
    }

    #[test]
    fn anomaly_errors_map_to_the_service_error_of_the_same_kind() {
        let e = Error::from(statecast_anomaly::Error::InvalidArgument {
            field: "validation".into(),
            reason: "too few".into(),
        });
        assert!(matches!(&e, Error::InvalidArgument { field, .. } if field == "validation"));
        assert_eq!(tonic::Status::from(e).code(), Code::InvalidArgument);
        let io = statecast_anomaly::Error::Io {
            context: "reading x".into(),
            source: std::io::Error::other("gone"),
        };
        assert_eq!(tonic::Status::from(Error::from(io)).code(), Code::Internal);
    }

    #[test]
    fn status_messages_are_bounded_on_a_char_boundary() {
        let e = Error::JobNotFound {
            id: "é".repeat(100_000),
        };
        let status = tonic::Status::from(e);
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().len() <= MAX_STATUS_MESSAGE_BYTES);
        assert!(status.message().ends_with('…'), "{}", &status.message()[..40]);
        assert_eq!(bounded_message("short".into()), "short");
    }
}
