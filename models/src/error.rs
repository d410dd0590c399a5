//! The error type of `statecast-models`: training, checkpoints and artifacts.
//!
//! Every variant that concerns a file names it, so that a message read in a log or a gRPC status
//! says which file to look at.
use std::path::{Path, PathBuf};

/// Everything that can go wrong in this crate outside of programmer errors (which panic).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file that must exist is missing.
    #[error("{}: file is missing", path.display())]
    MissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// A JSON file could not be parsed or does not have the expected structure.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A file was written by a format version this build cannot read.
    #[error(
        "{}: format version {found} is not supported (this build reads versions {min_supported} to {max_supported}){hint}",
        path.display(),
        hint = if *found > *max_supported { "; upgrade statecast to read it" } else { "; re-export it with a newer statecast" }
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// Oldest version this build reads.
        min_supported: u32,
        /// Newest version this build reads.
        max_supported: u32,
    },
    /// A weights file could not be read (truncated, not burnpack, …).
    #[error("{}: cannot read the weights: {reason}", path.display())]
    CorruptWeights {
        /// The weights file.
        path: PathBuf,
        /// What the reader reported.
        reason: String,
    },
    /// A weights file does not fit the model its configuration builds (missing, unused or
    /// differently shaped tensors).
    #[error("{}: the weights do not match the model configuration: {reason}", path.display())]
    WeightsMismatch {
        /// The weights file.
        path: PathBuf,
        /// Which tensors differ.
        reason: String,
    },
    /// A checkpoint cannot be resumed with the configuration given.
    #[error("{}: cannot resume: {reason}", path.display())]
    ResumeMismatch {
        /// The checkpoint directory.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A setting is out of range.
    #[error("invalid {what}: {reason}")]
    InvalidConfig {
        /// The setting.
        what: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The data does not fit the model (window geometry, no windows).
    #[error("data does not fit the model: {reason}")]
    DataMismatch {
        /// What differs.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// `Ok` when `value` is finite and `> 0`, else [`Error::InvalidConfig`] naming `what`.
    pub(crate) fn check_positive(what: &str, value: f64) -> Result<()> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(Self::invalid(what, format!("{value} is not a positive number")))
        }
    }

    /// `Ok` when `value` is finite and `≥ 0`, else [`Error::InvalidConfig`] naming `what`.
    pub(crate) fn check_non_negative(what: &str, value: f64) -> Result<()> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(Self::invalid(what, format!("{value} is not a number ≥ 0")))
        }
    }

    /// `Ok` for a dropout rate in `[0, 1)`, else [`Error::InvalidConfig`] naming `dropout`.
    pub(crate) fn check_dropout(value: f64) -> Result<()> {
        if (0.0..1.0).contains(&value) {
            Ok(())
        } else {
            Err(Self::invalid("dropout", format!("{value} is not in [0, 1)")))
        }
    }

    /// An [`Error::InvalidConfig`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// The error for a failed burnpack read or apply of `path`: validation failures become
    /// [`Error::WeightsMismatch`], everything else [`Error::CorruptWeights`] (a missing file
    /// [`Error::MissingFile`]).
    pub fn from_record(path: impl AsRef<Path>, err: burn::store::RecordError) -> Self {
        let path = path.as_ref().to_path_buf();
        match err {
            burn::store::RecordError::Validation(reason) => Self::WeightsMismatch { path, reason },
            burn::store::RecordError::Io(reason) if !path.exists() => {
                let _ = reason;
                Self::MissingFile { path }
            }
            burn::store::RecordError::Io(reason) => Self::CorruptWeights { path, reason },
        }
    }
}
