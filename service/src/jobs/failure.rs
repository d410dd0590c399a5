//! Client-safe failure messages of jobs.
//!
//! A job's message is returned by `GetJob`, `ListJobs` and `WatchJob`, which need no token, so
//! it must never carry what the dataset file holds: no cell text, no header names the client did
//! not send itself, no series names, no server paths. [`client_message`] keeps the category of
//! the failure and the row (0-based data row) where there is one; a column is named only when
//! the job's own column mapping named it (the client sent that name). The full error goes to the
//! server log (`tracing`), where the operator can read it.
use statecast_pipelines::Error as DataError;
use statecast_pipelines::source::{DatasetSpec, Layout};

use crate::Error;

/// The columns the job's mapping names (what the client sent).
fn named_columns(spec: &DatasetSpec) -> Vec<&str> {
    let mut named: Vec<&str> = Vec::new();
    match &spec.layout {
        Layout::Wide {
            time_column,
            series_column,
            value_columns,
        } => {
            named.extend(time_column.as_deref());
            named.extend(series_column.as_deref());
            named.extend(value_columns.iter().flatten().map(String::as_str));
        }
        Layout::Long {
            series_column,
            time_column,
            value_column,
            variable_column,
        } => {
            named.extend([
                series_column.as_str(),
                time_column.as_str(),
                value_column.as_str(),
            ]);
            named.extend(variable_column.as_deref());
        }
    }
    named.extend(spec.label_column.as_deref());
    named
}

/// `column `x`` when the job named `x`, else a neutral phrase.
fn column(named: &[&str], name: &str) -> String {
    if named.contains(&name) {
        format!("column `{name}`")
    } else {
        "a column the job did not name".to_string()
    }
}

/// The text a client may see for a failed job whose dataset was `spec`.
pub fn client_message(err: &Error, spec: &DatasetSpec) -> String {
    match err {
        Error::Data(e) => data_message(e, &named_columns(spec)),
        // Validation of the client's own settings (look-back, horizon, …): its text.
        Error::InvalidArgument { field, reason } => format!("invalid argument `{field}`: {reason}"),
        Error::ResourceExhausted { reason } | Error::FailedPrecondition { reason } => reason.clone(),
        Error::Model(statecast_models::error::Error::InvalidConfig { what, reason }) => {
            format!("invalid {what}: {reason}")
        }
        Error::Model(statecast_models::error::Error::DataMismatch { .. }) => {
            "the dataset does not fit the model (details in the server log)".into()
        }
        Error::Device(e) => e.to_string(),
        // Paths of the server, database and internal errors: nothing for the client.
        Error::Model(_)
        | Error::Transport(_)
        | Error::Reflection(_)
        | Error::ModelNotFound { .. }
        | Error::LabelNotFound { .. }
        | Error::Database { .. }
        | Error::Postgres { .. }
        | Error::ObjectStore { .. }
        | Error::JobNotFound { .. }
        | Error::Internal(_)
        | Error::Io { .. } => "training failed with a server error (details in the server log)".into(),
    }
}

fn data_message(e: &DataError, named: &[&str]) -> String {
    use DataError as E;
    let text = match e {
        E::Io { .. } => "the dataset file could not be read".into(),
        E::EmptyFile { .. } => "the dataset file is empty".into(),
        E::CorruptFile { format, .. } => format!("the dataset file is not a valid {format} file"),
        E::UnknownFormat { .. } => {
            "unknown dataset format: use .parquet, .arrow/.ipc/.feather, .csv or .csv.gz, or set dataset.format".into()
        }
        E::Parquet { .. } => "the dataset file is not a valid parquet file".into(),
        E::Arrow { .. } => "the dataset file could not be decoded (arrow)".into(),
        E::MissingColumn { column: c, .. } => format!("{} is missing from the file", column(named, c)),
        E::UnknownColumn { column: c, .. } => format!(
            "{} is not accepted (strict mode refuses columns the mapping does not name)",
            column(named, c)
        ),
        E::ColumnType {
            column: c, expected, ..
        } => format!("{} has an unsupported type (expected {expected})", column(named, c)),
        E::NotNumeric { column: c, row, .. } => format!("{}, row {row}: not a number", column(named, c)),
        E::BadTimestamp { column: c, row, .. } => {
            format!("{}, row {row}: not a timestamp", column(named, c))
        }
        E::InvalidCell { column: c, row, .. } => format!("{}, row {row}: invalid value", column(named, c)),
        E::NonFinite { column: c, row, .. } => {
            format!("{}, row {row}: value is not finite", column(named, c))
        }
        E::UnsortedTimestamps { row, .. } => format!("row {row}: timestamps are not sorted"),
        E::DuplicateTimestamp { row, .. } => format!("row {row}: duplicate timestamp"),
        E::IrregularSpacing { row, .. } => format!(
            "row {row}: irregular time spacing (set dataset.resample to mean to average onto the grid)"
        ),
        E::TimestampOverflow { row, .. } => format!("row {row}: timestamp out of range"),
        E::Frequency { .. } => "cannot determine the sampling frequency (set dataset.frequency)".into(),
        E::MissingValues {
            column: c,
            count,
            first_row,
            ..
        } => format!(
            "{}: {count} missing value(s), first at row {first_row}; set dataset.missing (ffill, linear or mask) to accept them",
            column(named, c)
        ),
        E::Unfillable { column: c, .. } => format!("{}: cannot fill missing values", column(named, c)),
        E::TooShort { len, needed, what, .. } => {
            format!("a series has {len} rows, but {needed} are needed ({what})")
        }
        E::InvalidConfig { what, .. } => format!("invalid {what} for this dataset"),
        E::LimitExceeded { limit, .. } => format!("the dataset exceeds a limit of {limit}"),
        // Schema mismatches name file columns; JSON errors quote text; later variants: neither.
        E::SchemaMismatch { .. } | E::Json { .. } | _ => "the dataset could not be read".into(),
    };
    format!("dataset: {text} (details in the server log)")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const SECRET: &str = "hunter2-secret";

    fn spec() -> DatasetSpec {
        let mut spec = DatasetSpec::wide(PathBuf::from("/data/x.csv"));
        spec.layout = Layout::Wide {
            time_column: Some("date".into()),
            series_column: None,
            value_columns: Some(vec!["temp".into()]),
        };
        spec
    }

    #[test]
    fn no_cell_text_header_series_or_path_reaches_the_client() {
        let path = PathBuf::from(format!("/srv/{SECRET}/file.csv"));
        let errors = vec![
            DataError::NotNumeric {
                column: SECRET.into(),
                row: 17,
                value: SECRET.into(),
            },
            DataError::BadTimestamp {
                column: "date".into(),
                row: 3,
                value: SECRET.into(),
            },
            DataError::MissingColumn {
                column: "temp".into(),
                available: format!("{SECRET}, other"),
            },
            DataError::UnknownColumn {
                column: SECRET.into(),
                reason: SECRET.into(),
            },
            DataError::UnsortedTimestamps {
                series: SECRET.into(),
                row: 2,
                previous: SECRET.into(),
                next: SECRET.into(),
            },
            DataError::CorruptFile {
                path: path.clone(),
                format: "csv",
                reason: SECRET.into(),
            },
            DataError::Io {
                path: path.clone(),
                source: std::io::Error::other(SECRET),
            },
            DataError::TooShort {
                series: SECRET.into(),
                len: 3,
                needed: 10,
                what: "the split".into(),
            },
            DataError::SchemaMismatch {
                reason: SECRET.into(),
            },
            DataError::Frequency {
                reason: SECRET.into(),
            },
            DataError::InvalidConfig {
                what: "split",
                reason: SECRET.into(),
            },
        ];
        for e in errors {
            assert!(e.to_string().contains(SECRET), "the raw error carries it: {e}");
            let text = client_message(&Error::Data(e), &spec());
            assert!(!text.contains(SECRET), "{text}");
            assert!(text.starts_with("dataset: "), "{text}");
        }
        let text = client_message(
            &Error::Io {
                context: format!("reading {}", path.display()),
                source: std::io::Error::other("x"),
            },
            &spec(),
        );
        assert!(!text.contains(SECRET), "{text}");
    }

    #[test]
    fn messages_keep_the_category_row_and_client_named_columns() {
        let spec = spec();
        let text = client_message(
            &Error::Data(DataError::NotNumeric {
                column: "temp".into(),
                row: 17,
                value: "abc".into(),
            }),
            &spec,
        );
        assert_eq!(
            text,
            "dataset: column `temp`, row 17: not a number (details in the server log)"
        );
        let text = client_message(
            &Error::Data(DataError::NotNumeric {
                column: "pressure".into(),
                row: 4,
                value: "abc".into(),
            }),
            &spec,
        );
        assert_eq!(
            text,
            "dataset: a column the job did not name, row 4: not a number (details in the server log)"
        );
        let text = client_message(
            &Error::InvalidArgument {
                field: "horizon".into(),
                reason: "too long".into(),
            },
            &spec,
        );
        assert_eq!(text, "invalid argument `horizon`: too long");
    }
}
