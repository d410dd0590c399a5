//! Flags that describe a dataset file and its column mapping, shared by every subcommand that
//! reads data. They only translate into [`DatasetOptions`], whose one conversion to a
//! [`DatasetSpec`] (defaults, checks) training jobs use too.
use std::path::PathBuf;

use anyhow::Context;
use statecast_pipelines::Frequency;
use statecast_pipelines::missing::MissingPolicy;
use statecast_pipelines::source::{DatasetOptions, DatasetSpec, Format, LayoutKind, NonIncreasing, Resample};

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
    #[arg(long, value_parser = |s: &str| s.parse::<Format>())]
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

fn parse_frequency(s: &str) -> Result<Frequency, String> {
    Frequency::parse(s).map_err(|e| e.to_string())
}

impl From<LayoutArg> for LayoutKind {
    fn from(a: LayoutArg) -> Self {
        match a {
            LayoutArg::Wide => LayoutKind::Wide,
            LayoutArg::Long => LayoutKind::Long,
        }
    }
}

impl From<NonIncreasingArg> for NonIncreasing {
    fn from(a: NonIncreasingArg) -> Self {
        match a {
            NonIncreasingArg::Error => NonIncreasing::Error,
            NonIncreasingArg::Drop => NonIncreasing::Drop,
        }
    }
}

impl From<ResampleArg> for Resample {
    fn from(a: ResampleArg) -> Self {
        match a {
            ResampleArg::None => Resample::None,
            ResampleArg::Mean => Resample::Mean,
        }
    }
}

/// The flag of a [`DatasetOptions`] field, for messages.
fn flag(field: &str) -> String {
    match field {
        "path" => "--data".into(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

impl DataArgs {
    /// The dataset options these flags describe (`--value-column` only for the long layout,
    /// where it is read).
    pub(crate) fn options(&self) -> DatasetOptions {
        let layout = LayoutKind::from(self.layout);
        DatasetOptions {
            path: self.data.clone(),
            format: self.format,
            layout,
            time_column: self.time_column.clone(),
            series_column: self.series_column.clone(),
            columns: self.columns.clone(),
            value_column: (layout == LayoutKind::Long).then(|| self.value_column.clone()),
            variable_column: self.variable_column.clone(),
            label_column: self.label_column.clone(),
            missing: self.missing,
            frequency: self.frequency,
            strict: self.strict,
            no_header: self.no_header,
            non_increasing: self.non_increasing.into(),
            resample: self.resample.into(),
        }
    }

    /// The reader spec these flags describe (errors name the flag).
    /// An `s3://bucket/key` `--data` is downloaded first (into the temporary directory,
    /// `statecast-data-PID/`; credentials and endpoint from the `AWS_*` environment).
    pub(crate) fn spec(&self) -> anyhow::Result<DatasetSpec> {
        let mut options = self.options();
        let text = self.data.to_string_lossy().into_owned();
        if statecast_service::roots::is_object_url(&text) {
            let dir = std::env::temp_dir().join(format!("statecast-data-{}", std::process::id()));
            options.path = statecast_service::backend::objects::fetch_url(&text, &dir)
                .with_context(|| format!("downloading {text}"))?;
        }
        options
            .to_spec()
            .map_err(|e| anyhow::anyhow!("{}: {}", flag(e.field), e.reason))
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

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    /// Each flag value is the name the job path (`DatasetSubmission`) parses to the same option.
    #[test]
    fn flag_values_are_the_option_names() {
        for a in LayoutArg::value_variants() {
            let name = a.to_possible_value().unwrap();
            assert_eq!(name.get_name().parse::<LayoutKind>(), Ok(LayoutKind::from(*a)));
        }
        for a in NonIncreasingArg::value_variants() {
            let name = a.to_possible_value().unwrap();
            assert_eq!(
                name.get_name().parse::<NonIncreasing>(),
                Ok(NonIncreasing::from(*a))
            );
        }
        for a in ResampleArg::value_variants() {
            let name = a.to_possible_value().unwrap();
            assert_eq!(name.get_name().parse::<Resample>(), Ok(Resample::from(*a)));
        }
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        data: DataArgs,
    }

    fn args(flags: &[&str]) -> DataArgs {
        <Cli as clap::Parser>::try_parse_from(std::iter::once("x").chain(flags.iter().copied()))
            .unwrap()
            .data
    }

    #[test]
    fn flags_become_options_and_errors_name_the_flag() {
        let a = args(&[
            "--data",
            "d.csv",
            "--resample",
            "mean",
            "--non-increasing",
            "drop",
            "--missing",
            "linear",
            "--label-column",
            "label",
            "--frequency",
            "15min",
        ]);
        let o = a.options();
        assert_eq!(o.resample, Resample::Mean);
        assert_eq!(o.non_increasing, NonIncreasing::Drop);
        assert_eq!(o.label_column.as_deref(), Some("label"));
        assert_eq!(o.value_column, None);
        let spec = a.spec().unwrap();
        assert_eq!(spec.resample, Resample::Mean);
        assert_eq!(spec.frequency, Some(Frequency::minutes(15)));
        let long = args(&["--data", "d.csv", "--layout", "long", "--columns", "a,b"]);
        assert_eq!(
            long.spec().unwrap_err().to_string(),
            "--columns: applies to the wide layout only"
        );
        let err =
            <Cli as clap::Parser>::try_parse_from(["x", "--data", "d.csv", "--frequency", "110000000d"])
                .err()
                .unwrap();
        assert!(err.to_string().contains("is too long"), "{err}");
    }
}
