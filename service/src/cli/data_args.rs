//! Flags that describe a dataset file and its column mapping, shared by every subcommand that
//! reads data (`inspect`, and later `train`, `eval`, `detect`).
use std::path::PathBuf;

use anyhow::Context;
use statecast_pipelines::Frequency;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::source::{DatasetSpec, Format, Layout, NonIncreasing, Resample};

/// Column layout of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LayoutArg {
    /// One column per variate (`date, sensor1, …`), optionally with a series column.
    Wide,
    /// One value per row (`unique_id, ds, y` or `unique_id, ds, variable, value`).
    Long,
}

/// What to do with rows whose timestamp is not after the previous row of their series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum NonIncreasingArg {
    /// Reject the file.
    Error,
    /// Drop such rows (e.g. a clock set back an hour by a DST change); the count is logged.
    Drop,
}

/// What to do with timestamp steps that are not multiples of the frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ResampleArg {
    /// Keep the rows as read; irregular spacing is an error.
    None,
    /// Average each series onto the regular grid of the frequency; empty grid points are
    /// missing values (--missing applies); counts are logged.
    Mean,
}

/// Dataset flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DataArgs {
    /// Dataset file: .parquet, .arrow/.ipc/.feather, .csv, .csv.gz, .txt(.gz).
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// File format when the extension does not tell (parquet, arrow, csv).
    #[arg(long, value_parser = parse_format)]
    pub(crate) format: Option<Format>,
    /// Column layout.
    #[arg(long, value_enum, default_value = "wide")]
    pub(crate) layout: LayoutArg,
    /// Time column (wide: default = first of date, ds, timestamp, time; long: default ds).
    #[arg(long)]
    pub(crate) time_column: Option<String>,
    /// Series id column (several series in one file; long layout default unique_id).
    #[arg(long)]
    pub(crate) series_column: Option<String>,
    /// Variate columns, comma-separated (wide; default = every other column).
    #[arg(long, value_delimiter = ',')]
    pub(crate) columns: Option<Vec<String>>,
    /// Value column (long layout).
    #[arg(long, default_value = "y")]
    pub(crate) value_column: String,
    /// Variable-name column (long layout with several variates per series).
    #[arg(long)]
    pub(crate) variable_column: Option<String>,
    /// 0/1 anomaly label column, kept out of the model inputs.
    #[arg(long)]
    pub(crate) label_column: Option<String>,
    /// Missing values: error, ffill, linear or mask.
    #[arg(long, default_value = "error")]
    pub(crate) missing: MissingPolicy,
    /// Sampling period (e.g. 1h, 15min); default: inferred.
    #[arg(long, value_parser = parse_frequency)]
    pub(crate) frequency: Option<Frequency>,
    /// Reject files with columns the mapping does not name.
    #[arg(long)]
    pub(crate) strict: bool,
    /// CSV without a header row (columns become c0, c1, …).
    #[arg(long)]
    pub(crate) no_header: bool,
    /// Rows whose timestamp is not after the previous kept row of their series: error, or drop
    /// them (opt-in; the number dropped is logged as a warning).
    #[arg(long, value_enum, default_value = "error")]
    pub(crate) non_increasing: NonIncreasingArg,
    /// Irregular timestamp spacing: none (error), or mean (opt-in): each series is put on the
    /// grid of --frequency (default: the most common step, or the median step if none repeats),
    /// anchored at its first timestamp floored to a multiple of the frequency since the epoch;
    /// each grid point t gets the mean of the rows in [t, t+frequency) (labels: the max), and
    /// a grid point without rows is a missing value for --missing. Applied after
    /// --non-increasing; the rows merged and empty grid points are logged as a warning.
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) resample: ResampleArg,
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s.to_ascii_lowercase().as_str() {
        "parquet" | "pq" => Ok(Format::Parquet),
        "arrow" | "ipc" | "feather" => Ok(Format::ArrowIpc),
        "csv" => Ok(Format::Csv),
        other => Err(format!(
            "unknown format {other:?}: expected parquet, arrow or csv"
        )),
    }
}

fn parse_frequency(s: &str) -> Result<Frequency, String> {
    Frequency::parse(s)
        .ok_or_else(|| format!("cannot parse frequency {s:?}: expected e.g. 1h, 15min, 30s, 1d"))
}

impl DataArgs {
    /// The reader spec these flags describe.
    pub(crate) fn spec(&self) -> anyhow::Result<DatasetSpec> {
        let layout = match self.layout {
            LayoutArg::Wide => Layout::Wide {
                time_column: self.time_column.clone(),
                series_column: self.series_column.clone(),
                value_columns: self.columns.clone(),
            },
            LayoutArg::Long => {
                anyhow::ensure!(
                    self.columns.is_none(),
                    "--columns applies to the wide layout only"
                );
                Layout::Long {
                    series_column: self.series_column.clone().unwrap_or_else(|| "unique_id".into()),
                    time_column: self.time_column.clone().unwrap_or_else(|| "ds".into()),
                    value_column: self.value_column.clone(),
                    variable_column: self.variable_column.clone(),
                }
            }
        };
        let mut spec = DatasetSpec::wide(&self.data);
        spec.format = self.format;
        spec.layout = layout;
        spec.label_column = self.label_column.clone();
        spec.missing = self.missing;
        spec.frequency = self.frequency;
        spec.strict_columns = self.strict;
        spec.csv_header = !self.no_header;
        spec.non_increasing = match self.non_increasing {
            NonIncreasingArg::Error => NonIncreasing::Error,
            NonIncreasingArg::Drop => NonIncreasing::Drop,
        };
        spec.resample = match self.resample {
            ResampleArg::None => Resample::None,
            ResampleArg::Mean => Resample::Mean,
        };
        Ok(spec)
    }

    /// Read and validate the dataset.
    pub(crate) fn load(
        &self,
    ) -> anyhow::Result<(
        statecast_pipelines::TimeFrame,
        statecast_pipelines::source::IngestReport,
    )> {
        let spec = self.spec()?;
        statecast_pipelines::source::load(&spec).with_context(|| format!("reading {}", self.data.display()))
    }
}
