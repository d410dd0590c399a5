//! What a job trains: the raw [`Submission`] (strings and numbers as they arrive from a client)
//! and the validated [`JobSpec`]. Validation names the bad field (`dataset.path`,
//! `model_kind`, `model_config_json`, `horizon`, …).
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use statecast_models::device::DeviceSpec;
use statecast_models::train::TrainConfig;
use statecast_pipelines::Frequency;
use statecast_pipelines::source::{DatasetOptions, DatasetSpec};
use statecast_pipelines::split::SplitSpec;

use crate::ltsf::{ModelKind, apply_overrides};
pub use crate::train_defaults::LOOKBACK as DEFAULT_LOOKBACK;
use crate::train_defaults::{self, TrainSettings};
use crate::training::TrainRequest;
use crate::{Error, Result};

/// A dataset and its column mapping as strings from a client, unvalidated (empty strings mean
/// "default"); [`DatasetSubmission::options`] turns it into the typed
/// [`DatasetOptions`] the CLI flags also produce.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetSubmission {
    /// Path or `file://` URI on the server.
    pub path: String,
    /// `parquet`, `arrow`, `csv` or empty.
    pub format: String,
    /// `wide`, `long` or empty.
    pub layout: String,
    /// Time column.
    pub time_column: String,
    /// Series column.
    pub series_column: String,
    /// Variate columns (wide).
    pub columns: Vec<String>,
    /// Value column (long).
    pub value_column: String,
    /// Variable column (long).
    pub variable_column: String,
    /// Label column.
    pub label_column: String,
    /// Missing-value policy.
    pub missing: String,
    /// Sampling period.
    pub frequency: String,
    /// Reject unnamed columns.
    pub strict: bool,
    /// CSV without header.
    pub no_header: bool,
    /// `error`, `drop` or empty (rows whose timestamp is not after the previous one).
    pub non_increasing: String,
    /// `none`, `mean` or empty (irregular spacing).
    pub resample: String,
}

/// Optimiser settings, unvalidated (0 / `None` = the `statecast train` default,
/// [`TrainSettings::DEFAULT`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSubmission {
    /// Epochs (0: default).
    pub epochs: usize,
    /// Batch size (0: default).
    pub batch_size: usize,
    /// Peak learning rate (0: default).
    pub lr: f64,
    /// Warm-up epochs (`None`: default).
    pub warmup_epochs: Option<usize>,
    /// Early-stopping patience (`None`: default).
    pub patience: Option<usize>,
    /// Cap on batches per epoch.
    pub max_batches_per_epoch: Option<usize>,
    /// Seed.
    pub seed: u64,
}

/// A job as submitted, before validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Submission {
    /// Dataset (`None`: missing).
    pub dataset: Option<DatasetSubmission>,
    /// `spacetime`, `linear` or `repeat`.
    pub model_kind: String,
    /// JSON object of model settings, or empty.
    pub model_config_json: String,
    /// Look-back (0: [`DEFAULT_LOOKBACK`]).
    pub lookback: usize,
    /// Horizon (> 0).
    pub horizon: usize,
    /// Split spec, or empty for [`train_defaults::SPLIT`].
    pub split: String,
    /// Optimiser settings.
    pub training: TrainingSubmission,
    /// Device, or empty for [`train_defaults::DEVICE`].
    pub device: String,
    /// Registry name of the result.
    pub model_name: String,
    /// Labels of the registered version.
    pub labels: Vec<String>,
}

/// A validated job: everything [`TrainRequest`] needs except the output directories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Dataset and column mapping.
    pub data: DatasetSpec,
    /// Split.
    pub split: SplitSpec,
    /// Model family.
    pub kind: ModelKind,
    /// Settings merged into the family's defaults.
    pub model_overrides: Option<serde_json::Value>,
    /// Look-back.
    pub lookback: usize,
    /// Horizon.
    pub horizon: usize,
    /// Optimiser settings.
    pub train: TrainConfig,
    /// Device.
    pub device: DeviceSpec,
    /// Registry name of the result.
    pub model_name: String,
    /// Labels of the registered version.
    pub labels: Vec<String>,
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        reason: reason.into(),
    }
}

fn opt(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

/// Names and labels: 1–64 characters of `[A-Za-z0-9._-]`, not starting with `.` (the
/// registry's rule, checked here so a bad name fails at submission, not after training).
fn check_name(field: &str, name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "`{name}` is not a valid name: use 1–64 characters of A-Z a-z 0-9 . _ -, not starting with '.'"
            ),
        ))
    }
}

impl DatasetSubmission {
    /// The submission of `options` (what `statecast jobs submit` sends): enum values by
    /// their option names, defaults as empty strings where the wire has "empty = default".
    pub fn from_options(options: &DatasetOptions) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Self {
            path: options.path.display().to_string(),
            format: options.format.map(|f| f.as_str().to_string()).unwrap_or_default(),
            layout: options.layout.as_str().into(),
            time_column: text(&options.time_column),
            series_column: text(&options.series_column),
            columns: options.columns.clone().unwrap_or_default(),
            value_column: text(&options.value_column),
            variable_column: text(&options.variable_column),
            label_column: text(&options.label_column),
            missing: options.missing.as_str().into(),
            frequency: options.frequency.map(|f| f.to_string()).unwrap_or_default(),
            strict: options.strict,
            no_header: options.no_header,
            non_increasing: options.non_increasing.as_str().into(),
            resample: options.resample.as_str().into(),
        }
    }

    /// The typed options these strings describe. Empty strings take the defaults; names are
    /// case-insensitive. The path must be a file on this machine (or a `file://` URI of one).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field (`dataset.path`, `dataset.format`,
    /// `dataset.layout`, `dataset.missing`, `dataset.frequency`, `dataset.non_increasing`,
    /// `dataset.resample`).
    pub fn options(&self) -> Result<DatasetOptions> {
        let raw = self.path.trim();
        if raw.is_empty() {
            return Err(invalid("dataset.path", "a dataset path is required"));
        }
        let path = match raw.split_once("://") {
            None => PathBuf::from(raw),
            Some(("file", rest)) => PathBuf::from(rest),
            Some((scheme, _)) => {
                return Err(invalid(
                    "dataset.path",
                    format!(
                        "`{scheme}://` URIs are not supported: give a path on the server or a file:// URI"
                    ),
                ));
            }
        };
        if !path.is_file() {
            return Err(invalid(
                "dataset.path",
                format!("{} is not a file on the server", path.display()),
            ));
        }
        /// `None` for an empty string, else the parsed value or an error naming `field`.
        fn choice<T: FromStr>(field: &str, text: &str) -> Result<Option<T>>
        where
            T::Err: std::fmt::Display,
        {
            match opt(text) {
                None => Ok(None),
                Some(t) => t
                    .parse::<T>()
                    .map(Some)
                    .map_err(|e| invalid(field, e.to_string())),
            }
        }
        Ok(DatasetOptions {
            path,
            format: choice("dataset.format", &self.format)?,
            layout: choice("dataset.layout", &self.layout)?.unwrap_or_default(),
            time_column: opt(&self.time_column),
            series_column: opt(&self.series_column),
            columns: (!self.columns.is_empty()).then(|| self.columns.clone()),
            value_column: opt(&self.value_column),
            variable_column: opt(&self.variable_column),
            label_column: opt(&self.label_column),
            missing: choice("dataset.missing", &self.missing)?.unwrap_or_default(),
            frequency: choice::<Frequency>("dataset.frequency", &self.frequency)?,
            strict: self.strict,
            no_header: self.no_header,
            non_increasing: choice("dataset.non_increasing", &self.non_increasing)?.unwrap_or_default(),
            resample: choice("dataset.resample", &self.resample)?.unwrap_or_default(),
        })
    }

    /// The reader spec: [`DatasetSubmission::options`], then [`DatasetOptions::to_spec`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field (`dataset.<option>`).
    pub fn validate(&self) -> Result<DatasetSpec> {
        self.options()?
            .to_spec()
            .map_err(|e| invalid(&format!("dataset.{}", e.field), e.reason))
    }
}

impl TrainingSubmission {
    fn validate(&self) -> Result<TrainConfig> {
        let d = TrainSettings::DEFAULT;
        let nz = |v: usize, d: usize| if v == 0 { d } else { v };
        let config = TrainSettings {
            epochs: nz(self.epochs, d.epochs),
            batch_size: nz(self.batch_size, d.batch_size),
            lr: if self.lr == 0.0 { d.lr } else { self.lr },
            warmup_epochs: self.warmup_epochs.unwrap_or(d.warmup_epochs),
            patience: self.patience.unwrap_or(d.patience),
            max_batches_per_epoch: self.max_batches_per_epoch,
            seed: self.seed,
        }
        .config();
        config
            .validate()
            .map_err(|e| invalid("training", e.to_string()))?;
        Ok(config)
    }
}

impl Submission {
    /// Check every field and build the [`JobSpec`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first bad field: `dataset`, `dataset.*`,
    /// `model_kind`, `model_config_json`, `lookback`, `horizon`, `split`, `training`, `device`,
    /// `model_name`, `labels[i]`.
    pub fn validate(&self) -> Result<JobSpec> {
        check_name("model_name", &self.model_name)?;
        for (i, l) in self.labels.iter().enumerate() {
            check_name(&format!("labels[{i}]"), l)?;
        }
        let kind = <ModelKind as clap::ValueEnum>::from_str(self.model_kind.trim(), true).map_err(|_| {
            invalid(
                "model_kind",
                format!(
                    "unknown model kind `{}`: expected spacetime, linear or repeat",
                    self.model_kind
                ),
            )
        })?;
        if self.horizon == 0 {
            return Err(invalid("horizon", "must be at least 1"));
        }
        let lookback = if self.lookback == 0 {
            DEFAULT_LOOKBACK
        } else {
            self.lookback
        };
        let model_overrides = match opt(&self.model_config_json) {
            None => None,
            Some(text) => {
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| invalid("model_config_json", format!("not valid JSON: {e}")))?;
                if !value.is_object() {
                    return Err(invalid("model_config_json", "must be a JSON object"));
                }
                Some(value)
            }
        };
        apply_overrides(
            kind.default_config(lookback, self.horizon),
            model_overrides.as_ref(),
        )
        .map_err(|e| invalid("model_config_json", e.to_string()))?;
        let split = opt(&self.split)
            .as_deref()
            .unwrap_or(train_defaults::SPLIT)
            .parse::<SplitSpec>()
            .map_err(|e| invalid("split", e.to_string()))?;
        let device = opt(&self.device)
            .as_deref()
            .unwrap_or(train_defaults::DEVICE)
            .parse::<DeviceSpec>()
            .map_err(|e| invalid("device", e.to_string()))?;
        let data = self
            .dataset
            .as_ref()
            .ok_or_else(|| invalid("dataset", "a dataset is required"))?
            .validate()?;
        Ok(JobSpec {
            data,
            split,
            kind,
            model_overrides,
            lookback,
            horizon: self.horizon,
            train: self.training.validate()?,
            device,
            model_name: self.model_name.clone(),
            labels: self.labels.clone(),
        })
    }
}

impl JobSpec {
    /// The training request of this job, writing under `job_dir` (`artifact/`, `ckpt/`).
    pub fn train_request(&self, job_dir: &Path) -> TrainRequest {
        TrainRequest {
            data: self.data.clone(),
            split: self.split,
            kind: self.kind,
            model_overrides: self.model_overrides.clone(),
            lookback: self.lookback,
            horizon: self.horizon,
            train: self.train.clone(),
            device: self.device,
            out: job_dir.join("artifact"),
            checkpoint_dir: Some(job_dir.join("ckpt")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(sub: &Submission) -> String {
        match sub.validate() {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    fn good(path: &Path) -> Submission {
        Submission {
            dataset: Some(DatasetSubmission {
                path: path.display().to_string(),
                ..DatasetSubmission::default()
            }),
            model_kind: "linear".into(),
            lookback: 24,
            horizon: 6,
            model_name: "m".into(),
            ..Submission::default()
        }
    }

    #[test]
    fn validation_names_the_bad_field() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let ok = good(file.path());
        let spec = ok.validate().unwrap();
        assert_eq!(spec.train.epochs, 10);
        assert_eq!(spec.kind, ModelKind::Linear);

        let mut s = ok.clone();
        s.model_kind = "transformer".into();
        assert_eq!(field(&s), "model_kind");
        let mut s = ok.clone();
        s.dataset = None;
        assert_eq!(field(&s), "dataset");
        let mut s = ok.clone();
        s.dataset.as_mut().unwrap().path = "/no/such/file.csv".into();
        assert_eq!(field(&s), "dataset.path");
        let mut s = ok.clone();
        s.horizon = 0;
        assert_eq!(field(&s), "horizon");
        let mut s = ok.clone();
        s.model_config_json = "{not json".into();
        assert_eq!(field(&s), "model_config_json");
        let mut s = ok.clone();
        s.model_kind = "spacetime".into();
        s.model_config_json = r#"{"no_such_setting": 1}"#.into();
        assert_eq!(field(&s), "model_config_json");
        let mut s = ok.clone();
        s.model_name = "bad name".into();
        assert_eq!(field(&s), "model_name");
        let mut s = ok.clone();
        s.split = "nonsense".into();
        assert_eq!(field(&s), "split");
        let mut s = ok;
        s.device = "tpu".into();
        assert_eq!(field(&s), "device");
    }

    #[test]
    fn dataset_strings_name_the_bad_field() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let ok = good(file.path());
        let with = |edit: &dyn Fn(&mut DatasetSubmission)| {
            let mut s = ok.clone();
            edit(s.dataset.as_mut().unwrap());
            s
        };
        type Edit = Box<dyn Fn(&mut DatasetSubmission)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("dataset.resample", Box::new(|d| d.resample = "median".into())),
            (
                "dataset.non_increasing",
                Box::new(|d| d.non_increasing = "sort".into()),
            ),
            ("dataset.format", Box::new(|d| d.format = "json".into())),
            ("dataset.layout", Box::new(|d| d.layout = "tall".into())),
            ("dataset.missing", Box::new(|d| d.missing = "guess".into())),
            (
                "dataset.frequency",
                Box::new(|d| d.frequency = "110000000d".into()),
            ),
            (
                "dataset.columns",
                Box::new(|d| {
                    d.layout = "long".into();
                    d.columns = vec!["a".into()];
                }),
            ),
        ];
        for (name, edit) in cases {
            assert_eq!(field(&with(&*edit)), name);
        }
        let err = with(&|d| d.resample = "median".into()).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::InvalidArgument {
                field: "dataset.resample".into(),
                reason: "unknown resample method `median`: expected none or mean".into(),
            }
            .to_string()
        );
        let err = with(&|d| d.frequency = "110000000d".into())
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
    }

    #[test]
    fn dataset_strings_reach_the_spec_and_round_trip_through_options() {
        use statecast_pipelines::missing::MissingPolicy;
        use statecast_pipelines::source::{LayoutKind, NonIncreasing, Resample};

        let file = tempfile::NamedTempFile::new().unwrap();
        let mut sub = good(file.path());
        let d = sub.dataset.as_mut().unwrap();
        (d.resample, d.non_increasing, d.missing) = ("Mean".into(), " drop ".into(), "linear".into());
        (d.frequency, d.label_column) = ("15min".into(), "label".into());
        let spec = sub.validate().unwrap();
        assert_eq!(spec.data.resample, Resample::Mean);
        assert_eq!(spec.data.non_increasing, NonIncreasing::Drop);
        assert_eq!(spec.data.missing, MissingPolicy::Linear);
        assert_eq!(spec.data.label_column.as_deref(), Some("label"));

        let options = DatasetOptions {
            layout: LayoutKind::Long,
            variable_column: Some("var".into()),
            format: Some(statecast_pipelines::source::Format::ArrowIpc),
            frequency: Some(Frequency::minutes(90)),
            resample: Resample::Mean,
            non_increasing: NonIncreasing::Drop,
            missing: MissingPolicy::ForwardFill,
            strict: true,
            no_header: true,
            ..DatasetOptions::new(file.path())
        };
        let back = DatasetSubmission::from_options(&options).options().unwrap();
        assert_eq!(back, options);
        // Empty strings are the defaults, as before.
        let plain = DatasetSubmission {
            path: file.path().display().to_string(),
            ..DatasetSubmission::default()
        };
        assert_eq!(plain.options().unwrap(), DatasetOptions::new(file.path()));
    }

    #[test]
    fn training_defaults_are_the_cli_defaults() {
        let d = TrainSettings::DEFAULT;
        let config = TrainingSubmission::default().validate().unwrap();
        assert_eq!(config, d.config());
        let file = tempfile::NamedTempFile::new().unwrap();
        let spec = good(file.path()).validate().unwrap();
        assert_eq!(spec.split, train_defaults::SPLIT.parse::<SplitSpec>().unwrap());
        assert_eq!(spec.device, DeviceSpec::Cpu);
        let mut zero_lookback = good(file.path());
        zero_lookback.lookback = 0;
        assert_eq!(
            zero_lookback.validate().unwrap().lookback,
            train_defaults::LOOKBACK
        );
    }
}
