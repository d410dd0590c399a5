//! What to read and how the file's columns map onto series, time and variates.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::frame::Frequency;
use crate::missing::{ColumnMissing, MissingPolicy};

/// File format of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC, file (`ARROW1` magic, a.k.a. Feather v2) or stream format.
    #[serde(rename = "arrow")]
    ArrowIpc,
    /// Comma-separated text, plain or gzip-compressed (detected by the `1f 8b` magic bytes).
    Csv,
}

impl Format {
    /// Guess the format from the file name: `.parquet`/`.pq`, `.arrow`/`.ipc`/`.feather`,
    /// `.csv`/`.txt` (optionally followed by `.gz`). Case-insensitive.
    pub fn from_path(p: &Path) -> Option<Format> {
        let name = p.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "parquet" | "pq" => Some(Format::Parquet),
            "arrow" | "ipc" | "feather" => Some(Format::ArrowIpc),
            "csv" | "txt" => Some(Format::Csv),
            _ => None,
        }
    }

    /// Name used in messages: `parquet`, `arrow-ipc`, `csv`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::ArrowIpc => "arrow-ipc",
            Format::Csv => "csv",
        }
    }
}

/// How the file's columns map onto series, time and variates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One column per variate: `date, sensor1, sensor2, …`. With `series_column`, several
    /// series share the file (a long layout with named value columns).
    Wide {
        /// Time column; `None` = the first of `date`, `ds`, `timestamp`, `time`
        /// (case-insensitive). When none exists, rows get a synthetic index
        /// `0, f, 2f, …` per series from 1970-01-01 with `f` = the spec's frequency or 1 minute.
        time_column: Option<String>,
        /// Series id column (`None` = one series named after the file stem).
        series_column: Option<String>,
        /// Variate columns, in this order; `None` = every other column except the label.
        value_columns: Option<Vec<String>>,
    },
    /// One value per row: `unique_id, ds, y` (the variate is named after `value_column`) or,
    /// with `variable_column`, `unique_id, ds, variable, value`, pivoted so that each distinct
    /// variable (in order of first appearance) becomes a variate.
    Long {
        /// Series id column.
        series_column: String,
        /// Time column.
        time_column: String,
        /// Value column.
        value_column: String,
        /// Variable-name column, if several variates are stacked.
        variable_column: Option<String>,
    },
}

impl Layout {
    /// A wide layout with every choice automatic.
    pub fn wide_auto() -> Self {
        Layout::Wide {
            time_column: None,
            series_column: None,
            value_columns: None,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_batch_rows() -> usize {
    65_536
}

/// What [`super::load`] does with a row whose timestamp is not after the previous kept row of
/// its series (a clock set back, e.g. by a daylight-saving change, or a repeated timestamp).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonIncreasing {
    /// Reject the file ([`crate::Error::UnsortedTimestamps`] / [`crate::Error::DuplicateTimestamp`]).
    #[default]
    Error,
    /// Drop such rows (explicit opt-in); the count is in [`IngestReport::dropped_non_increasing`]
    /// and logged as a warning.
    Drop,
}

/// What [`super::load`] does with a series whose timestamp steps are not whole multiples of
/// the frequency (applied after [`NonIncreasing`], before the spacing check and gap filling).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resample {
    /// Keep the rows as read; irregular spacing is an error ([`crate::Error::IrregularSpacing`]).
    #[default]
    None,
    /// Put each series on the regular grid of the frequency (explicit opt-in): grid point `t`
    /// (anchored at the series' first timestamp floored to a multiple of the frequency since
    /// the epoch) takes the mean of the values of the rows in `[t, t + frequency)` and the max
    /// of their labels; a grid point without rows is a gap, filled by the missing policy. See
    /// [`crate::resample`]. Counts in [`IngestReport::resample_merged`] /
    /// [`IngestReport::resample_empty`], logged as a warning.
    Mean,
}

/// Everything needed to read one dataset file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSpec {
    /// File to read.
    pub path: PathBuf,
    /// Format; `None` = [`Format::from_path`].
    #[serde(default)]
    pub format: Option<Format>,
    /// Column mapping.
    pub layout: Layout,
    /// Optional 0/1 anomaly label column (ints, bools or floats); becomes [`crate::Series::labels`].
    #[serde(default)]
    pub label_column: Option<String>,
    /// When the file lacks `label_column`: `false` (default) refuses it
    /// ([`crate::Error::MissingColumn`]); `true` reads it without labels (a file that needs
    /// none, such as a detector's fit file read with the scored file's options).
    #[serde(default)]
    pub label_column_optional: bool,
    /// Missing-value policy (default `error`).
    #[serde(default)]
    pub missing: MissingPolicy,
    /// Sampling period; `None` = infer (most common positive step over all series).
    #[serde(default)]
    pub frequency: Option<Frequency>,
    /// Error on file columns the mapping does not name.
    #[serde(default)]
    pub strict_columns: bool,
    /// CSV only: whether the first row is a header (default `true`). Without a header the
    /// columns are named `c0, c1, …`.
    #[serde(default = "default_true")]
    pub csv_header: bool,
    /// Rows per read batch (and per [`super::Chunk`] of [`super::scan`]); default 65 536.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// Rows whose timestamp is not after the previous kept row of the series (default `error`;
    /// `drop` applies to [`super::load`] only, [`super::scan`] always rejects them).
    #[serde(default)]
    pub non_increasing: NonIncreasing,
    /// Irregular timestamp spacing (default `none`: an error; `mean`: average onto the grid of
    /// the frequency). Applies to [`super::load`] only; [`super::scan`] always rejects it.
    /// Without `frequency`, the grid's frequency is inferred by
    /// [`crate::resample::infer_resample_frequency`] (most common step, or the median step when
    /// no step repeats).
    #[serde(default)]
    pub resample: Resample,
}

impl DatasetSpec {
    /// A wide, single- or multi-series file with automatic time and value columns, no labels,
    /// the `error` missing policy, inferred frequency, header row, 65 536-row batches.
    pub fn wide(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            format: None,
            layout: Layout::wide_auto(),
            label_column: None,
            label_column_optional: false,
            missing: MissingPolicy::Error,
            frequency: None,
            strict_columns: false,
            csv_header: true,
            batch_rows: default_batch_rows(),
            non_increasing: NonIncreasing::Error,
            resample: Resample::None,
        }
    }

    /// The spec that reads back a file written by [`crate::sink`] with `opts` (its time, series
    /// and label columns; every other column is a variate), with the given missing policy.
    pub fn for_written(
        path: impl Into<PathBuf>,
        opts: &crate::sink::WriteOptions,
        missing: MissingPolicy,
    ) -> Self {
        Self {
            layout: Layout::Wide {
                time_column: Some(opts.time_column.clone()),
                series_column: opts.series_column.clone(),
                value_columns: None,
            },
            label_column: opts.label_column.clone(),
            missing,
            ..Self::wide(path)
        }
    }

    /// A long file `series, time, value` (one variate per series).
    pub fn long(
        path: impl Into<PathBuf>,
        series_column: &str,
        time_column: &str,
        value_column: &str,
    ) -> Self {
        Self {
            layout: Layout::Long {
                series_column: series_column.into(),
                time_column: time_column.into(),
                value_column: value_column.into(),
                variable_column: None,
            },
            ..Self::wide(path)
        }
    }

    /// The format to read the file as.
    pub fn resolved_format(&self) -> Option<Format> {
        self.format.or_else(|| Format::from_path(&self.path))
    }

    /// The series id used when the file has no series column: the file name without `.gz`
    /// and without its extension (`machine-1-1.txt.gz` → `machine-1-1`).
    pub fn default_series_id(&self) -> String {
        let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("series");
        let name = name.strip_suffix(".gz").unwrap_or(name);
        match name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_string(),
            _ => name.to_string(),
        }
    }
}

/// What [`super::load`] read and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// File read.
    pub path: PathBuf,
    /// Format it was read as.
    pub format: Format,
    /// Data rows read from the file (before pivoting and gap insertion).
    pub rows_read: usize,
    /// Number of series.
    pub series: usize,
    /// Variate names, in frame order.
    pub columns: Vec<String>,
    /// Sampling period (given or inferred; 1 minute for a synthetic index by default).
    pub frequency: Frequency,
    /// Missing values per column and series (only entries with a non-zero count).
    pub missing: Vec<ColumnMissing>,
    /// Rows inserted into the time grid for gaps, over all series.
    pub gaps_filled: usize,
    /// Rows dropped under [`NonIncreasing::Drop`] (timestamp not after the previous kept row).
    pub dropped_non_increasing: usize,
    /// Rows averaged into a grid bin that already held an earlier row, under [`Resample::Mean`].
    #[serde(default)]
    pub resample_merged: usize,
    /// Grid points with no row under [`Resample::Mean`] (gaps; also counted in `gaps_filled`
    /// once filled).
    #[serde(default)]
    pub resample_empty: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_path() {
        let f = |s: &str| Format::from_path(Path::new(s));
        assert_eq!(f("a/b.parquet"), Some(Format::Parquet));
        assert_eq!(f("b.PQ"), Some(Format::Parquet));
        assert_eq!(f("b.feather"), Some(Format::ArrowIpc));
        assert_eq!(f("b.ipc"), Some(Format::ArrowIpc));
        assert_eq!(f("b.arrow"), Some(Format::ArrowIpc));
        assert_eq!(f("ETTm1.csv.gz"), Some(Format::Csv));
        assert_eq!(f("machine-1-1.txt.gz"), Some(Format::Csv));
        assert_eq!(f("x.txt"), Some(Format::Csv));
        assert_eq!(f("x.json"), None);
        assert_eq!(f("noext"), None);
    }

    #[test]
    fn default_series_id_strips_extensions() {
        assert_eq!(
            DatasetSpec::wide("d/machine-1-1.txt.gz").default_series_id(),
            "machine-1-1"
        );
        assert_eq!(DatasetSpec::wide("ETTh1.csv").default_series_id(), "ETTh1");
    }

    #[test]
    fn spec_deserialises_with_defaults() {
        let spec: DatasetSpec = serde_json::from_str(
            r#"{"path":"x.csv","layout":{"wide":{"time_column":null,"series_column":null,"value_columns":null}},"missing":"ffill"}"#,
        )
        .unwrap();
        assert_eq!(spec.batch_rows, 65_536);
        assert!(spec.csv_header);
        assert_eq!(spec.missing, MissingPolicy::ForwardFill);
    }
}
