//! The crate's error type. Every variant names the file, column, series and row involved, so a
//! user can fix the input without reading code.
//!
//! Row numbers are 0-based indices of data rows (the header, if any, is not counted).
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a file and a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file has zero bytes or no data rows.
    #[error("{path}: file is empty")]
    EmptyFile {
        /// File involved.
        path: PathBuf,
    },
    /// The file is not a valid file of the expected format (wrong magic, truncated, bad footer…).
    #[error("{path}: not a valid {format} file: {reason}")]
    CorruptFile {
        /// File involved.
        path: PathBuf,
        /// Format the file was read as (`parquet`, `arrow-ipc`, `csv`, `gzip`).
        format: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// The format could not be told from the file name and was not given.
    #[error(
        "{path}: unknown file format (expected .parquet, .arrow/.ipc/.feather, .csv or .csv.gz, or pass the format explicitly)"
    )]
    UnknownFormat {
        /// File involved.
        path: PathBuf,
    },
    /// A column named by the mapping is not in the file.
    #[error("missing column `{column}` (the file has: {available})")]
    MissingColumn {
        /// Column that was asked for.
        column: String,
        /// Comma-separated columns the file has.
        available: String,
    },
    /// A column is in the file but the mapping does not say what it is (strict mode), or a
    /// column name is unknown to an already-fitted schema.
    #[error("unknown column `{column}`: {reason}")]
    UnknownColumn {
        /// Column involved.
        column: String,
        /// Why it is not accepted.
        reason: String,
    },
    /// A column has an Arrow/Parquet type that cannot hold what the mapping says it holds.
    #[error("column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        /// Column involved.
        column: String,
        /// What was expected (e.g. "numeric", "timestamp or string").
        expected: String,
        /// The type found.
        found: String,
    },
    /// A text cell could not be parsed as a number.
    #[error("column `{column}`, row {row}: cannot parse {value:?} as a number")]
    NotNumeric {
        /// Column involved.
        column: String,
        /// Data row (0-based).
        row: usize,
        /// The offending text.
        value: String,
    },
    /// A timestamp could not be parsed.
    #[error("column `{column}`, row {row}: cannot parse timestamp {value:?}")]
    BadTimestamp {
        /// Column involved.
        column: String,
        /// Data row (0-based).
        row: usize,
        /// The offending text or value.
        value: String,
    },
    /// A timestamp is earlier than the one before it within a series.
    #[error("series `{series}`: timestamps are not sorted at row {row} ({previous} is followed by {next})")]
    UnsortedTimestamps {
        /// Series involved.
        series: String,
        /// Data row (0-based) of the earlier timestamp that follows a later one.
        row: usize,
        /// Timestamp before, formatted.
        previous: String,
        /// Timestamp at `row`, formatted.
        next: String,
    },
    /// The same timestamp appears twice within a series.
    #[error("series `{series}`: duplicate timestamp {timestamp} at row {row}")]
    DuplicateTimestamp {
        /// Series involved.
        series: String,
        /// Data row (0-based) of the second occurrence.
        row: usize,
        /// The repeated timestamp, formatted.
        timestamp: String,
    },
    /// A step between consecutive timestamps is not a whole multiple of the series frequency
    /// (loading with [`crate::source::Resample::Mean`] averages such a series onto the grid).
    #[error(
        "series `{series}`: irregular spacing at row {row}: step {step} is not a multiple of the frequency {frequency} (to read such a file, average it onto the grid with `--resample mean`)"
    )]
    IrregularSpacing {
        /// Series involved.
        series: String,
        /// Data row (0-based) where the odd step ends.
        row: usize,
        /// The step found, formatted.
        step: String,
        /// The inferred or given frequency, formatted.
        frequency: String,
    },
    /// Timestamp arithmetic left the range of [`crate::frame::Micros`] (i64 microseconds since
    /// 1970): a synthetic index or grid with a huge frequency, or timestamps near the ends of
    /// that range.
    #[error(
        "series `{series}`, row {row}: {what} does not fit in the timestamp range (i64 microseconds since 1970)"
    )]
    TimestampOverflow {
        /// Series involved.
        series: String,
        /// Data row (0-based).
        row: usize,
        /// The quantity that overflowed.
        what: String,
    },
    /// The frequency could not be inferred (fewer than two timestamps) or series disagree.
    #[error("cannot determine the sampling frequency: {reason}")]
    Frequency {
        /// Why.
        reason: String,
    },
    /// A value is +inf or -inf (or NaN where NaN is not a missing marker).
    #[error("column `{column}`, series `{series}`, row {row}: value is {value}, which is not finite")]
    NonFinite {
        /// Column involved.
        column: String,
        /// Series involved.
        series: String,
        /// Data row (0-based).
        row: usize,
        /// The value, formatted.
        value: String,
    },
    /// Missing values (nulls, empty cells, NaN, or gaps in the time grid) were found and the
    /// missing-value policy is `error`.
    #[error(
        "column `{column}`, series `{series}`: {count} missing value(s), first at row {first_row}; choose a missing-value policy (ffill, linear or mask) to accept them"
    )]
    MissingValues {
        /// Column involved (`<time grid>` for gaps between timestamps).
        column: String,
        /// Series involved.
        series: String,
        /// How many values are missing.
        count: usize,
        /// First missing data row (0-based, on the regular time grid).
        first_row: usize,
    },
    /// A column could not be filled (e.g. linear interpolation of an all-missing column).
    #[error("column `{column}`, series `{series}`: cannot fill missing values: {reason}")]
    Unfillable {
        /// Column involved.
        column: String,
        /// Series involved.
        series: String,
        /// Why.
        reason: String,
    },
    /// A series is too short for the requested split or window.
    #[error("series `{series}` has {len} rows, but {needed} are needed ({what})")]
    TooShort {
        /// Series involved.
        series: String,
        /// Rows available.
        len: usize,
        /// Rows needed.
        needed: usize,
        /// What needed them.
        what: String,
    },
    /// A caller-supplied setting is invalid (split fractions, window sizes, mapping…).
    #[error("invalid {what}: {reason}")]
    InvalidConfig {
        /// Which setting.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Data does not match a schema fitted earlier (e.g. a scaler fitted on other columns).
    #[error("schema mismatch: {reason}")]
    SchemaMismatch {
        /// What differs.
        reason: String,
    },
    /// Error from the Parquet writer or reader not tied to one cell.
    #[error("{path}: parquet: {source}")]
    Parquet {
        /// File involved.
        path: PathBuf,
        /// Underlying error.
        source: parquet::errors::ParquetError,
    },
    /// Error from Arrow not tied to one cell.
    #[error("{path}: arrow: {source}")]
    Arrow {
        /// File involved.
        path: PathBuf,
        /// Underlying error.
        source: arrow_schema::ArrowError,
    },
    /// JSON (de)serialisation of a saved artefact (scaler, segments list) failed.
    #[error("{path}: json: {source}")]
    Json {
        /// File involved.
        path: PathBuf,
        /// Underlying error.
        source: serde_json::Error,
    },
    /// A bounded resource is full (e.g. the number of live series of an online window set).
    #[error("{what}: the limit of {limit} is reached")]
    LimitExceeded {
        /// What is full, and what was being added.
        what: String,
        /// The configured bound.
        limit: usize,
    },
    /// A cell holds a value its column cannot take (a label other than 0/1, a null series id
    /// or variable name).
    #[error("column `{column}`, row {row}: invalid value {value:?}: {reason}")]
    InvalidCell {
        /// Column involved.
        column: String,
        /// Data row (0-based).
        row: usize,
        /// The offending value, formatted.
        value: String,
        /// What is accepted.
        reason: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidConfig`].
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            what,
            reason: reason.into(),
        }
    }
}
