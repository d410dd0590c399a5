//! Every dataset option a user can give — the `statecast` data flags, a training job's
//! `dataset` message — as one typed, serialisable struct, and the one validating conversion
//! into the reader's [`DatasetSpec`]. Front ends only translate their syntax (clap flags,
//! proto strings) into [`DatasetOptions`]; defaults and checks live here, so they cannot
//! drift apart.
//!
//! The enums' text forms (`FromStr`, `as_str`) are the names front ends accept: `parquet`,
//! `wide`, `drop`, `mean`, … (case-insensitive, surrounding spaces ignored).
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::spec::{DatasetSpec, Format, Layout, NonIncreasing, Resample};
use crate::frame::Frequency;
use crate::missing::MissingPolicy;

/// Series column of the long layout when none is given.
pub const DEFAULT_LONG_SERIES_COLUMN: &str = "unique_id";
/// Time column of the long layout when none is given.
pub const DEFAULT_LONG_TIME_COLUMN: &str = "ds";
/// Value column of the long layout when none is given.
pub const DEFAULT_VALUE_COLUMN: &str = "y";

/// A name that is not one of an option's choices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{given}`: expected {expected}")]
pub struct UnknownChoice {
    /// What was being chosen (`format`, `layout`, …).
    pub what: &'static str,
    /// The text given.
    pub given: String,
    /// The accepted names, for the message.
    pub expected: &'static str,
}

/// A dataset option that cannot be used; `field` is the [`DatasetOptions`] field (`path`,
/// `columns`, …), so front ends can name their own flag or message field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct OptionError {
    /// The field of [`DatasetOptions`] at fault.
    pub field: &'static str,
    /// Why it is refused.
    pub reason: String,
}

/// Column layout of a file (the shape of [`Layout`]; its columns are separate options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// One column per variate, optionally with a series column.
    #[default]
    Wide,
    /// One value per row (`unique_id, ds, y` or `unique_id, ds, variable, value`).
    Long,
}

/// How to read one dataset file: every option of the `statecast` data flags.
///
/// Deserialises from a partial object (missing fields take their defaults); unknown fields
/// are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetOptions {
    /// File to read (required).
    pub path: PathBuf,
    /// Format; `None` = from the file name ([`Format::from_path`]).
    pub format: Option<Format>,
    /// Column layout (default wide).
    pub layout: LayoutKind,
    /// Time column. Wide: `None` = the first of `date`, `ds`, `timestamp`, `time`; long:
    /// `None` = [`DEFAULT_LONG_TIME_COLUMN`].
    pub time_column: Option<String>,
    /// Series id column. Wide: `None` = one series; long: `None` = [`DEFAULT_LONG_SERIES_COLUMN`].
    pub series_column: Option<String>,
    /// Variate columns in order (wide only); `None` = every other column.
    pub columns: Option<Vec<String>>,
    /// Value column (long only); `None` = [`DEFAULT_VALUE_COLUMN`].
    pub value_column: Option<String>,
    /// Variable-name column (long only).
    pub variable_column: Option<String>,
    /// 0/1 anomaly label column, kept out of the variates.
    pub label_column: Option<String>,
    /// Missing-value policy (default `error`).
    pub missing: MissingPolicy,
    /// Sampling period; `None` = inferred.
    pub frequency: Option<Frequency>,
    /// Refuse files with columns the mapping does not name.
    pub strict: bool,
    /// CSV without a header row (columns become `c0, c1, …`).
    pub no_header: bool,
    /// Rows whose timestamp is not after the previous kept row of their series (default `error`).
    pub non_increasing: NonIncreasing,
    /// Irregular timestamp spacing (default `none`: an error).
    pub resample: Resample,
}

impl DatasetOptions {
    /// Options for `path` with every other option at its default.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }

    /// The same options for another file (e.g. the fit file of `statecast detect`).
    pub fn for_path(&self, path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            ..self.clone()
        }
    }

    /// The reader spec these options describe.
    ///
    /// # Errors
    /// [`OptionError`] naming the field: `path` (empty), `columns` (given with the long
    /// layout, empty, or with an empty name), or any column option given as an empty name.
    pub fn to_spec(&self) -> Result<DatasetSpec, OptionError> {
        if self.path.as_os_str().is_empty() {
            return Err(OptionError {
                field: "path",
                reason: "a dataset path is required".into(),
            });
        }
        let named = |field: &'static str, v: &Option<String>| -> Result<Option<String>, OptionError> {
            match v {
                Some(name) if name.trim().is_empty() => Err(OptionError {
                    field,
                    reason: "the column name is empty".into(),
                }),
                other => Ok(other.clone()),
            }
        };
        let time_column = named("time_column", &self.time_column)?;
        let series_column = named("series_column", &self.series_column)?;
        let value_column = named("value_column", &self.value_column)?;
        let variable_column = named("variable_column", &self.variable_column)?;
        let label_column = named("label_column", &self.label_column)?;
        if let Some(columns) = &self.columns {
            if columns.is_empty() {
                return Err(OptionError {
                    field: "columns",
                    reason: "the list of variate columns is empty".into(),
                });
            }
            if let Some(i) = columns.iter().position(|c| c.trim().is_empty()) {
                return Err(OptionError {
                    field: "columns",
                    reason: format!("column {i} of the list has an empty name"),
                });
            }
        }
        let layout = match self.layout {
            LayoutKind::Wide => Layout::Wide {
                time_column,
                series_column,
                value_columns: self.columns.clone(),
            },
            LayoutKind::Long => {
                if self.columns.is_some() {
                    return Err(OptionError {
                        field: "columns",
                        reason: "applies to the wide layout only".into(),
                    });
                }
                Layout::Long {
                    series_column: series_column.unwrap_or_else(|| DEFAULT_LONG_SERIES_COLUMN.into()),
                    time_column: time_column.unwrap_or_else(|| DEFAULT_LONG_TIME_COLUMN.into()),
                    value_column: value_column.unwrap_or_else(|| DEFAULT_VALUE_COLUMN.into()),
                    variable_column,
                }
            }
        };
        Ok(DatasetSpec {
            format: self.format,
            layout,
            label_column,
            missing: self.missing,
            frequency: self.frequency,
            strict_columns: self.strict,
            csv_header: !self.no_header,
            non_increasing: self.non_increasing,
            resample: self.resample,
            ..DatasetSpec::wide(&self.path)
        })
    }
}

/// Lower-cased, trimmed text for matching names.
fn key(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

impl Format {
    /// The option name: `parquet`, `arrow` or `csv` (what [`FromStr`] and serde accept).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::ArrowIpc => "arrow",
            Format::Csv => "csv",
        }
    }
}

impl FromStr for Format {
    type Err = UnknownChoice;

    /// `parquet`/`pq`, `arrow`/`ipc`/`feather`/`arrow-ipc`, `csv`.
    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match key(s).as_str() {
            "parquet" | "pq" => Ok(Format::Parquet),
            "arrow" | "ipc" | "feather" | "arrow-ipc" => Ok(Format::ArrowIpc),
            "csv" => Ok(Format::Csv),
            _ => Err(UnknownChoice {
                what: "format",
                given: s.trim().into(),
                expected: "parquet, arrow or csv",
            }),
        }
    }
}

impl LayoutKind {
    /// The option name: `wide` or `long`.
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::Wide => "wide",
            LayoutKind::Long => "long",
        }
    }
}

impl FromStr for LayoutKind {
    type Err = UnknownChoice;

    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match key(s).as_str() {
            "wide" => Ok(LayoutKind::Wide),
            "long" => Ok(LayoutKind::Long),
            _ => Err(UnknownChoice {
                what: "layout",
                given: s.trim().into(),
                expected: "wide or long",
            }),
        }
    }
}

impl NonIncreasing {
    /// The option name: `error` or `drop`.
    pub fn as_str(self) -> &'static str {
        match self {
            NonIncreasing::Error => "error",
            NonIncreasing::Drop => "drop",
        }
    }
}

impl FromStr for NonIncreasing {
    type Err = UnknownChoice;

    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match key(s).as_str() {
            "error" => Ok(NonIncreasing::Error),
            "drop" => Ok(NonIncreasing::Drop),
            _ => Err(UnknownChoice {
                what: "non-increasing policy",
                given: s.trim().into(),
                expected: "error or drop",
            }),
        }
    }
}

impl Resample {
    /// The option name: `none` or `mean`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resample::None => "none",
            Resample::Mean => "mean",
        }
    }
}

impl FromStr for Resample {
    type Err = UnknownChoice;

    fn from_str(s: &str) -> Result<Self, UnknownChoice> {
        match key(s).as_str() {
            "none" => Ok(Resample::None),
            "mean" => Ok(Resample::Mean),
            _ => Err(UnknownChoice {
                what: "resample method",
                given: s.trim().into(),
                expected: "none or mean",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_the_plain_wide_spec() {
        let spec = DatasetOptions::new("x.csv").to_spec().unwrap();
        assert_eq!(spec, DatasetSpec::wide("x.csv"));
    }

    #[test]
    fn every_option_reaches_the_spec() {
        let opts = DatasetOptions {
            path: "d/x.txt".into(),
            format: Some(Format::Csv),
            layout: LayoutKind::Long,
            time_column: Some("t".into()),
            series_column: None,
            columns: None,
            value_column: None,
            variable_column: Some("var".into()),
            label_column: Some("label".into()),
            missing: MissingPolicy::Linear,
            frequency: Some(Frequency::minutes(15)),
            strict: true,
            no_header: true,
            non_increasing: NonIncreasing::Drop,
            resample: Resample::Mean,
        };
        let spec = opts.to_spec().unwrap();
        assert_eq!(
            spec.layout,
            Layout::Long {
                series_column: "unique_id".into(),
                time_column: "t".into(),
                value_column: "y".into(),
                variable_column: Some("var".into()),
            }
        );
        assert_eq!(spec.path, PathBuf::from("d/x.txt"));
        assert_eq!(spec.format, Some(Format::Csv));
        assert_eq!(spec.label_column.as_deref(), Some("label"));
        assert_eq!(spec.missing, MissingPolicy::Linear);
        assert_eq!(spec.frequency, Some(Frequency::minutes(15)));
        assert!(spec.strict_columns && !spec.csv_header);
        assert_eq!(spec.non_increasing, NonIncreasing::Drop);
        assert_eq!(spec.resample, Resample::Mean);
        assert_eq!(spec.batch_rows, DatasetSpec::wide("x").batch_rows);
        // Only the path differs for another file.
        assert_eq!(
            opts.for_path("y.csv").to_spec().unwrap().path,
            PathBuf::from("y.csv")
        );
        assert_eq!(opts.for_path("y.csv").to_spec().unwrap().resample, Resample::Mean);
    }

    #[test]
    fn errors_name_the_field() {
        let field = |o: DatasetOptions| o.to_spec().unwrap_err().field;
        assert_eq!(field(DatasetOptions::default()), "path");
        let long_with_columns = DatasetOptions {
            layout: LayoutKind::Long,
            columns: Some(vec!["a".into()]),
            ..DatasetOptions::new("x.csv")
        };
        assert_eq!(
            long_with_columns.to_spec().unwrap_err().to_string(),
            "columns: applies to the wide layout only"
        );
        let empty_name = DatasetOptions {
            columns: Some(vec!["a".into(), " ".into()]),
            ..DatasetOptions::new("x.csv")
        };
        assert_eq!(field(empty_name), "columns");
        let empty_label = DatasetOptions {
            label_column: Some(String::new()),
            ..DatasetOptions::new("x.csv")
        };
        assert_eq!(field(empty_label), "label_column");
    }

    #[test]
    fn names_parse_back_and_unknown_ones_are_refused() {
        for f in [Format::Parquet, Format::ArrowIpc, Format::Csv] {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert_eq!(" PQ ".parse::<Format>(), Ok(Format::Parquet));
        assert_eq!("Feather".parse::<Format>(), Ok(Format::ArrowIpc));
        for l in [LayoutKind::Wide, LayoutKind::Long] {
            assert_eq!(l.as_str().parse::<LayoutKind>(), Ok(l));
        }
        for n in [NonIncreasing::Error, NonIncreasing::Drop] {
            assert_eq!(n.as_str().parse::<NonIncreasing>(), Ok(n));
        }
        for r in [Resample::None, Resample::Mean] {
            assert_eq!(r.as_str().parse::<Resample>(), Ok(r));
        }
        assert_eq!("MEAN".parse::<Resample>(), Ok(Resample::Mean));
        assert_eq!(
            "median".parse::<Resample>().unwrap_err().to_string(),
            "unknown resample method `median`: expected none or mean"
        );
        assert_eq!(
            "json".parse::<Format>().unwrap_err().to_string(),
            "unknown format `json`: expected parquet, arrow or csv"
        );
    }

    #[test]
    fn options_serde_round_trip_and_partial_objects() {
        let opts = DatasetOptions {
            resample: Resample::Mean,
            missing: MissingPolicy::ForwardFill,
            frequency: Some(Frequency::minutes(5)),
            ..DatasetOptions::new("x.csv")
        };
        let json = serde_json::to_string(&opts).unwrap();
        assert_eq!(serde_json::from_str::<DatasetOptions>(&json).unwrap(), opts);
        let partial: DatasetOptions =
            serde_json::from_str(r#"{"path":"x.csv","resample":"mean","layout":"long"}"#).unwrap();
        assert_eq!(partial.resample, Resample::Mean);
        assert_eq!(partial.layout, LayoutKind::Long);
        assert_eq!(partial.missing, MissingPolicy::Error);
        let err =
            serde_json::from_str::<DatasetOptions>(r#"{"path":"x.csv","resampel":"mean"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `resampel`"), "{err}");
    }
}
