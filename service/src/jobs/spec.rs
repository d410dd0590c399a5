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

use super::limits::JobLimits;
use crate::backtest::{BacktestPlan, BacktestRequest};
use crate::roots::{AllowedRoots, RootError};
pub use crate::train_defaults::LOOKBACK as DEFAULT_LOOKBACK;
use crate::train_defaults::{self, TrainSettings};
use crate::training::TrainRequest;
use crate::tune::{PruneRule, SearchDefinition, SearchSpace, TuneRequest};
use crate::{Error, Result};
use statecast_models::zoo::ModelFamily;

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

/// What a job does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Train and register (jobs stored by earlier versions are all this).
    #[default]
    Train,
    /// A rolling-origin backtest ([`crate::backtest`]).
    Backtest,
    /// A hyper-parameter search ([`crate::tune`]); the best model is registered.
    Tune,
}

impl JobKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Train => "train",
            JobKind::Backtest => "backtest",
            JobKind::Tune => "tune",
        }
    }
}

/// Backtest settings as submitted (0 = default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BacktestSubmission {
    /// Cut-offs.
    pub cutoffs: usize,
    /// Rows between cut-offs (0: the horizon).
    pub step: usize,
    /// Refit every this many cut-offs (0: once).
    pub refit_every: usize,
    /// Validation share of a fit's history (0: 0.2).
    pub val_fraction: f64,
    /// MASE season (0: 1).
    pub season: usize,
}

/// Tune settings as submitted (0 / empty = default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TuneSubmission {
    /// The space as JSON (empty: the family's built-in space).
    pub space_json: String,
    /// Trials.
    pub trials: usize,
    /// Seed of the draws.
    pub search_seed: u64,
    /// Trials at once (0: 1).
    pub concurrency: usize,
    /// Median-rule pruning after this many epochs (0: off).
    pub prune_after: usize,
    /// Trials needed before the rule applies (0: 3).
    pub prune_min_trials: usize,
}

/// A validated tune job's search settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneJob {
    /// The space.
    pub space: SearchSpace,
    /// Trials.
    pub trials: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// Trials at once.
    pub concurrency: usize,
    /// Pruning.
    pub prune: Option<PruneRule>,
}

/// The most trials of a tune job.
pub const MAX_JOB_TRIALS: usize = 1000;
/// The most trials of a tune job training at once.
pub const MAX_JOB_CONCURRENCY: usize = 8;
/// Longest `tune.space_json`, bytes.
pub(super) const MAX_SPACE_BYTES: usize = 64 << 10;

/// A job as submitted, before validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Submission {
    /// What the job does.
    pub kind: JobKind,
    /// Backtest settings (backtest jobs only).
    pub backtest: Option<BacktestSubmission>,
    /// Tune settings (tune jobs only).
    pub tune: Option<TuneSubmission>,
    /// Dataset (`None`: missing).
    pub dataset: Option<DatasetSubmission>,
    /// The family as the typed proto enum (`None`: not given).
    pub model_family: Option<ModelFamily>,
    /// The family by name (`spacetime`, `simba`, `linear`, `repeat`; the older string field, still
    /// accepted), or empty.
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
    /// Model family (stored as `kind` by earlier versions).
    #[serde(alias = "kind")]
    pub family: ModelFamily,
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
    /// What the job does (`job_kind` in the stored JSON: `kind` is an older name of `family`).
    #[serde(default, rename = "job_kind")]
    pub kind: JobKind,
    /// The plan of a backtest job.
    #[serde(default)]
    pub backtest: Option<BacktestPlan>,
    /// The search of a tune job.
    #[serde(default)]
    pub tune: Option<TuneJob>,
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

/// A model-configuration error as a submission error: look-back and horizon are fields of the
/// submission; every other setting lives in `model_config_json`.
fn model_config_error(e: statecast_models::error::Error) -> Error {
    let statecast_models::error::Error::InvalidConfig { what, reason } = e else {
        return invalid("model_config_json", e.to_string());
    };
    let field = match what.as_str() {
        "lookback" | "horizon" => what,
        "model" => "model_config_json".to_string(),
        setting => format!("model_config_json.{setting}"),
    };
    invalid(&field, reason)
}

/// Most labels of one job.
pub(super) const MAX_LABELS: usize = 32;
/// Longest `model_config_json`, bytes.
pub(super) const MAX_MODEL_CONFIG_BYTES: usize = 64 << 10;
/// Longest dataset path, bytes.
pub(super) const MAX_PATH_BYTES: usize = 4096;
/// Longest other dataset string (a column name, a format, a frequency), bytes.
pub(super) const MAX_OPTION_BYTES: usize = 256;
/// Most variate columns a job may name.
pub(super) const MAX_COLUMNS: usize = 1024;

/// Every string and list a client sends is bounded before it is parsed or stored (the job row
/// keeps the specification until the job is pruned).
fn check_lengths(sub: &Submission) -> Result<()> {
    let too_long = |field: &str, len: usize, max: usize, unit: &str| {
        Err(invalid(
            field,
            format!("{len} {unit} is more than the {max} accepted"),
        ))
    };
    if let Some(t) = &sub.tune
        && t.space_json.len() > MAX_SPACE_BYTES
    {
        return too_long("tune.space_json", t.space_json.len(), MAX_SPACE_BYTES, "bytes");
    }
    if sub.labels.len() > MAX_LABELS {
        return too_long("labels", sub.labels.len(), MAX_LABELS, "labels");
    }
    if sub.model_config_json.len() > MAX_MODEL_CONFIG_BYTES {
        return too_long(
            "model_config_json",
            sub.model_config_json.len(),
            MAX_MODEL_CONFIG_BYTES,
            "bytes",
        );
    }
    for (field, text) in [
        ("model_kind", &sub.model_kind),
        ("split", &sub.split),
        ("device", &sub.device),
        ("model_name", &sub.model_name),
    ] {
        if text.len() > MAX_OPTION_BYTES {
            return too_long(field, text.len(), MAX_OPTION_BYTES, "bytes");
        }
    }
    let Some(d) = &sub.dataset else { return Ok(()) };
    if d.path.len() > MAX_PATH_BYTES {
        return too_long("dataset.path", d.path.len(), MAX_PATH_BYTES, "bytes");
    }
    if d.columns.len() > MAX_COLUMNS {
        return too_long("dataset.columns", d.columns.len(), MAX_COLUMNS, "columns");
    }
    let strings = [
        ("dataset.format", &d.format),
        ("dataset.layout", &d.layout),
        ("dataset.time_column", &d.time_column),
        ("dataset.series_column", &d.series_column),
        ("dataset.value_column", &d.value_column),
        ("dataset.variable_column", &d.variable_column),
        ("dataset.label_column", &d.label_column),
        ("dataset.missing", &d.missing),
        ("dataset.frequency", &d.frequency),
        ("dataset.non_increasing", &d.non_increasing),
        ("dataset.resample", &d.resample),
    ];
    let columns = d.columns.iter().map(|c| ("dataset.columns", c));
    for (field, text) in strings.into_iter().chain(columns) {
        if text.len() > MAX_OPTION_BYTES {
            return too_long(field, text.len(), MAX_OPTION_BYTES, "bytes");
        }
    }
    Ok(())
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
    /// case-insensitive. The path is taken as given (a `file://` prefix stripped) and not
    /// looked at: [`DatasetSubmission::validate`] checks it against the data roots.
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
            // Object URLs are checked against the server's `s3://` data roots in `validate`.
            Some(("s3" | "s3a", _)) => PathBuf::from(raw),
            Some((scheme, _)) => {
                return Err(invalid(
                    "dataset.path",
                    format!(
                        "`{scheme}://` URIs are not supported: give a path on the server, a file:// URI or an s3:// URL under an s3:// --data-root"
                    ),
                ));
            }
        };
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

    /// The reader spec: [`DatasetSubmission::options`], the path resolved under `roots` (its
    /// canonical form is what the spec holds), then [`DatasetOptions::to_spec`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field (`dataset.<option>`); for `dataset.path` one
    /// message whether the file is missing or outside the roots.
    /// [`Error::FailedPrecondition`] when the server has no data roots (naming `--data-root`).
    pub fn validate(&self, roots: &AllowedRoots) -> Result<DatasetSpec> {
        let mut options = self.options()?;
        let requested = options.path.to_string_lossy().into_owned();
        if crate::roots::is_object_url(&requested) {
            // An object under an `s3://` data root: read by the worker when the job starts.
            let url = roots.resolve_url(&requested).map_err(|e| match e {
                RootError::NoRoots { .. } => Error::FailedPrecondition {
                    reason: e.to_string(),
                },
                RootError::NotAllowed { .. } | RootError::Malformed => invalid("dataset.path", e.to_string()),
            })?;
            options.path = PathBuf::from(url);
            return options
                .to_spec()
                .map_err(|e| invalid(&format!("dataset.{}", e.field), e.reason));
        }
        let path = roots.resolve(&requested).map_err(|e| match e {
            RootError::NoRoots { .. } => Error::FailedPrecondition {
                reason: e.to_string(),
            },
            RootError::NotAllowed { .. } | RootError::Malformed => invalid("dataset.path", e.to_string()),
        })?;
        if !path.is_file() {
            return Err(invalid(
                "dataset.path",
                format!("`{requested}` is a directory, not a dataset file"),
            ));
        }
        options.path = path;
        options
            .to_spec()
            .map_err(|e| invalid(&format!("dataset.{}", e.field), e.reason))
    }
}

impl TrainingSubmission {
    fn validate(&self, limits: &JobLimits) -> Result<TrainConfig> {
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
        limits.check_schedule(config.epochs, config.warmup_epochs, config.patience, config.lr)?;
        config
            .validate()
            .map_err(|e| invalid("training", e.to_string()))?;
        Ok(config)
    }
}

impl Submission {
    /// The family from `model_family`, or else from the `model_kind` name; both given must agree.
    fn family(&self) -> Result<ModelFamily> {
        let by_name = opt(&self.model_kind)
            .map(|name| {
                name.parse::<ModelFamily>()
                    .map_err(|e| invalid("model_kind", e.to_string()))
            })
            .transpose()?;
        match (self.model_family, by_name) {
            (Some(f), Some(n)) if f != n => Err(invalid(
                "model_kind",
                format!("names {n} but model_family is {f}"),
            )),
            (Some(f), _) | (None, Some(f)) => Ok(f),
            (None, None) => Err(invalid(
                "model_family",
                format!("required: one of {}", ModelFamily::names().join(", ")),
            )),
        }
    }

    /// Check every field and build the [`JobSpec`]: the dataset path must lie under `roots`,
    /// the schedule and the model's size within `limits` (the size with the variates the
    /// submission names, or one; the worker checks again with the dataset's own count).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first bad field: `dataset`, `dataset.*`,
    /// `model_family`, `model_kind`, `model_config_json[.setting]`, `lookback`, `horizon`, `split`,
    /// `training[.setting]`, `device`, `model_name`, `labels[i]`.
    /// [`Error::ResourceExhausted`] when the model exceeds `--max-model-params` or
    /// `--max-train-memory-mib`; [`Error::FailedPrecondition`] without data roots.
    pub fn validate(&self, roots: &AllowedRoots, limits: &JobLimits) -> Result<JobSpec> {
        check_lengths(self)?;
        match (self.kind, &self.backtest, &self.tune) {
            (JobKind::Backtest, None, _) => {
                return Err(invalid("backtest", "a backtest job needs its settings"));
            }
            (JobKind::Tune, _, None) => return Err(invalid("tune", "a tune job needs its settings")),
            (JobKind::Train | JobKind::Tune, Some(_), _) => {
                return Err(invalid("backtest", "only a backtest job takes backtest settings"));
            }
            (JobKind::Train | JobKind::Backtest, _, Some(_)) => {
                return Err(invalid("tune", "only a tune job takes tune settings"));
            }
            _ => {}
        }
        // A backtest registers nothing: its name is optional.
        if self.kind != JobKind::Backtest || !self.model_name.is_empty() {
            check_name("model_name", &self.model_name)?;
        }
        for (i, l) in self.labels.iter().enumerate() {
            check_name(&format!("labels[{i}]"), l)?;
        }
        let family = self.family()?;
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
        let config = family
            .default_config(lookback, self.horizon)
            .with_overrides(model_overrides.as_ref())
            .map_err(model_config_error)?;
        let train = self.training.validate(limits)?;
        let named_variates = self.dataset.as_ref().map_or(1, |d| d.columns.len().max(1));
        limits.check_size(&config, train.batch_size, named_variates)?;
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
        let backtest = self
            .backtest
            .as_ref()
            .map(|b| b.validate(self.horizon, train.epochs, limits))
            .transpose()?;
        let tune = self
            .tune
            .as_ref()
            .map(|t| {
                t.validate(
                    family,
                    lookback,
                    self.horizon,
                    model_overrides.as_ref(),
                    &train,
                    named_variates,
                    limits,
                )
            })
            .transpose()?;
        let data = self
            .dataset
            .as_ref()
            .ok_or_else(|| invalid("dataset", "a dataset is required"))?
            .validate(roots)?;
        Ok(JobSpec {
            kind: self.kind,
            backtest,
            tune,
            data,
            split,
            family,
            model_overrides,
            lookback,
            horizon: self.horizon,
            train,
            device,
            model_name: self.model_name.clone(),
            labels: self.labels.clone(),
        })
    }
}

/// A backtest or tune field's error under its submission prefix.
fn prefixed(prefix: &str, e: Error) -> Error {
    if let Error::InvalidArgument { field, reason } = e {
        invalid(&format!("{prefix}.{field}"), reason)
    } else {
        e
    }
}

impl BacktestSubmission {
    fn validate(&self, horizon: usize, epochs: usize, limits: &JobLimits) -> Result<BacktestPlan> {
        let nz = |v: usize, d: usize| if v == 0 { d } else { v };
        let plan = BacktestPlan {
            cutoffs: self.cutoffs,
            step: nz(self.step, horizon.max(1)),
            refit_every: self.refit_every,
            val_fraction: if self.val_fraction == 0.0 {
                0.2
            } else {
                self.val_fraction
            },
            season: nz(self.season, 1),
        };
        plan.validate().map_err(|e| prefixed("backtest", e))?;
        let total = plan.fits().len().saturating_mul(epochs);
        if total > limits.max_epochs {
            return Err(invalid(
                "backtest.refit_every",
                format!(
                    "{} fits × {epochs} epochs is {total} epochs, above this server's {} (--max-job-epochs)",
                    plan.fits().len(),
                    limits.max_epochs
                ),
            ));
        }
        Ok(plan)
    }
}

impl TuneSubmission {
    /// Check the search; every drawn trial's model must fit the server's size limits.
    #[allow(clippy::too_many_arguments)]
    fn validate(
        &self,
        family: ModelFamily,
        lookback: usize,
        horizon: usize,
        base_model: Option<&serde_json::Value>,
        train: &TrainConfig,
        variates: usize,
        limits: &JobLimits,
    ) -> Result<TuneJob> {
        if self.trials == 0 || self.trials > MAX_JOB_TRIALS {
            return Err(invalid("tune.trials", format!("must be in 1..={MAX_JOB_TRIALS}")));
        }
        let concurrency = if self.concurrency == 0 {
            1
        } else {
            self.concurrency
        };
        if concurrency > MAX_JOB_CONCURRENCY {
            return Err(invalid(
                "tune.concurrency",
                format!("at most {MAX_JOB_CONCURRENCY}"),
            ));
        }
        let total = self.trials.saturating_mul(train.epochs);
        if total > limits.max_epochs {
            return Err(invalid(
                "tune.trials",
                format!(
                    "{} trials × {} epochs is {total} epochs, above this server's {} (--max-job-epochs)",
                    self.trials, train.epochs, limits.max_epochs
                ),
            ));
        }
        let space = match opt(&self.space_json) {
            None => SearchSpace::builtin(family),
            Some(text) => SearchSpace::parse(&text).map_err(|e| {
                if let Error::InvalidArgument { reason, .. } = e {
                    invalid("tune.space_json", reason)
                } else {
                    e
                }
            })?,
        };
        space.validate(family, lookback, horizon, train).map_err(|e| {
            if let Error::InvalidArgument { field, reason } = e {
                invalid("tune.space_json", format!("{field}: {reason}"))
            } else {
                e
            }
        })?;
        // Every trial's model and schedule within the limits, before anything runs. Draws that
        // are not a valid configuration fail as trials when they run.
        for trial in 0..self.trials {
            let draw = space.draw(self.search_seed, trial);
            let mut model = base_model
                .and_then(|v| v.as_object())
                .cloned()
                .unwrap_or_default();
            model.extend(draw.model.clone());
            let Ok(config) = family
                .default_config(lookback, horizon)
                .with_overrides(Some(&serde_json::Value::Object(model)))
            else {
                continue;
            };
            let Ok(cfg) = crate::tune::train_config(train, &draw.train) else {
                continue;
            };
            limits
                .check_schedule(cfg.epochs, cfg.warmup_epochs, cfg.patience, cfg.lr)
                .map_err(|e| prefixed("tune.space_json", e))?;
            limits
                .check_size(&config, cfg.batch_size, variates)
                .map_err(|e| {
                    if let Error::ResourceExhausted { reason } = e {
                        Error::ResourceExhausted {
                            reason: format!("tune.space_json: trial {trial}: {reason}"),
                        }
                    } else {
                        e
                    }
                })?;
        }
        Ok(TuneJob {
            space,
            trials: self.trials,
            seed: self.search_seed,
            concurrency,
            prune: (self.prune_after > 0).then_some(PruneRule {
                after_epochs: self.prune_after,
                min_trials: if self.prune_min_trials == 0 {
                    3
                } else {
                    self.prune_min_trials
                },
            }),
        })
    }
}

impl JobSpec {
    /// The backtest request of a backtest job.
    pub fn backtest_request(&self) -> Option<BacktestRequest> {
        Some(BacktestRequest {
            data: self.data.clone(),
            family: self.family,
            model_overrides: self.model_overrides.clone(),
            lookback: self.lookback,
            horizon: self.horizon,
            train: self.train.clone(),
            device: self.device,
            plan: self.backtest?,
        })
    }

    /// The search of a tune job, writing under `job_dir/tune`.
    pub fn tune_request(&self, job_dir: &Path) -> Option<TuneRequest> {
        let t = self.tune.as_ref()?;
        Some(TuneRequest {
            search: SearchDefinition {
                data: self.data.clone(),
                split: self.split,
                family: self.family,
                base_model: self.model_overrides.clone(),
                lookback: self.lookback,
                horizon: self.horizon,
                base_train: self.train.clone(),
                space: t.space.clone(),
                seed: t.seed,
                prune: t.prune,
            },
            trials: t.trials,
            concurrency: t.concurrency,
            device: self.device,
            out_dir: job_dir.join("tune"),
            cancel: None,
            admit: None,
        })
    }

    /// The training request of this job, writing under `job_dir` (`artifact/`, `ckpt/`).
    pub fn train_request(&self, job_dir: &Path) -> TrainRequest {
        TrainRequest {
            data: self.data.clone(),
            split: self.split,
            family: self.family,
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

    /// Roots holding the temporary files of these tests.
    fn roots() -> AllowedRoots {
        AllowedRoots::new([std::env::temp_dir()], "dataset files", "--data-root").unwrap()
    }

    fn field(sub: &Submission) -> String {
        match sub.validate(&roots(), &JobLimits::default()) {
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
        let spec = ok.validate(&roots(), &JobLimits::default()).unwrap();
        assert_eq!(spec.train.epochs, 10);
        assert_eq!(spec.family, ModelFamily::Linear);

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
        assert_eq!(field(&s), "model_config_json.no_such_setting");
        // Settings that `init` would have panicked on are refused by name.
        let mut s = ok.clone();
        s.model_kind = "spacetime".into();
        s.model_config_json = r#"{"min_avg_window": 0}"#.into();
        assert_eq!(field(&s), "model_config_json.min_avg_window");
        let mut s = ok.clone();
        s.model_kind = "spacetime".into();
        s.lookback = 1;
        assert_eq!(field(&s), "lookback");
        // The typed family, alone or agreeing with the name; neither given; disagreeing.
        let mut s = ok.clone();
        s.model_kind = String::new();
        s.model_family = Some(ModelFamily::Repeat);
        assert_eq!(
            s.validate(&roots(), &JobLimits::default()).unwrap().family,
            ModelFamily::Repeat
        );
        s.model_family = None;
        assert_eq!(field(&s), "model_family");
        s.model_kind = "SpaceTime".into();
        s.model_family = Some(ModelFamily::Linear);
        assert_eq!(field(&s), "model_kind");
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
        let err = with(&|d| d.resample = "median".into())
            .validate(&roots(), &JobLimits::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::InvalidArgument {
                field: "dataset.resample".into(),
                reason: "unknown resample method `median`: expected none or mean".into(),
            }
            .to_string()
        );
        let err = with(&|d| d.frequency = "110000000d".into())
            .validate(&roots(), &JobLimits::default())
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
        let spec = sub.validate(&roots(), &JobLimits::default()).unwrap();
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
        let config = TrainingSubmission::default()
            .validate(&JobLimits::default())
            .unwrap();
        assert_eq!(config, d.config());
        let file = tempfile::NamedTempFile::new().unwrap();
        let spec = good(file.path())
            .validate(&roots(), &JobLimits::default())
            .unwrap();
        assert_eq!(spec.split, train_defaults::SPLIT.parse::<SplitSpec>().unwrap());
        assert_eq!(spec.device, DeviceSpec::Cpu);
        let mut zero_lookback = good(file.path());
        zero_lookback.lookback = 0;
        assert_eq!(
            zero_lookback
                .validate(&roots(), &JobLimits::default())
                .unwrap()
                .lookback,
            train_defaults::LOOKBACK
        );
    }

    #[test]
    fn dataset_paths_must_lie_under_the_data_roots() {
        let root = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let inside = root.path().join("data.csv");
        std::fs::write(&inside, "date,a\n").unwrap();
        let secret = outside.path().join("secret.csv");
        std::fs::write(&secret, "token\nhunter2\n").unwrap();
        let only = AllowedRoots::new([root.path().to_path_buf()], "dataset files", "--data-root").unwrap();
        let limits = JobLimits::default();
        let spec = good(&inside).validate(&only, &limits).unwrap();
        assert_eq!(spec.data.path, std::fs::canonicalize(&inside).unwrap());
        let refused = |path: &str| {
            let mut s = good(&inside);
            s.dataset.as_mut().unwrap().path = path.into();
            match s.validate(&only, &limits) {
                Err(Error::InvalidArgument { field, reason }) => {
                    assert_eq!(field, "dataset.path");
                    let echoed = path.strip_prefix("file://").unwrap_or(path);
                    reason.replace(echoed, "REQ")
                }
                other => panic!("{path}: expected InvalidArgument, got {other:?}"),
            }
        };
        // Outside, missing and escaping paths get one message (only the echoed request differs).
        let answers = [
            refused("file:///etc/passwd"),
            refused("/etc/passwd"),
            refused(&secret.display().to_string()),
            refused("/no/such/file.csv"),
            refused("../../../../etc/passwd"),
        ];
        assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&secret, root.path().join("link.csv")).unwrap();
            assert_eq!(refused("link.csv"), answers[0]);
        }
        // No roots at all: FAILED_PRECONDITION naming the flag.
        let none = AllowedRoots::none("dataset files", "--data-root");
        match good(&inside).validate(&none, &limits) {
            Err(Error::FailedPrecondition { reason }) => assert!(reason.contains("--data-root"), "{reason}"),
            other => panic!("expected FailedPrecondition, got {other:?}"),
        }
    }

    #[test]
    fn schedules_and_model_sizes_beyond_the_limits_are_refused_at_submission() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let limits = JobLimits::default();
        let mut s = good(file.path());
        s.training.epochs = u32::MAX as usize;
        assert_eq!(field(&s), "training.epochs");
        let mut s = good(file.path());
        s.training.patience = Some(usize::MAX);
        assert_eq!(field(&s), "training.patience");
        let mut s = good(file.path());
        s.training.lr = f64::INFINITY;
        assert_eq!(field(&s), "training.lr");
        let mut s = good(file.path());
        s.model_kind = "spacetime".into();
        s.model_config_json = r#"{"d_model": 65536, "n_kernels": 65536}"#.into();
        match s.validate(&roots(), &limits) {
            Err(Error::ResourceExhausted { reason }) => {
                assert!(reason.contains("--max-model-params"), "{reason}")
            }
            other => panic!("expected ResourceExhausted, got {other:?}"),
        }
        let mut s = good(file.path());
        s.training.batch_size = 1 << 30;
        match s.validate(&roots(), &limits) {
            Err(Error::ResourceExhausted { reason }) => {
                assert!(reason.contains("--max-train-memory-mib"), "{reason}")
            }
            other => panic!("expected ResourceExhausted, got {other:?}"),
        }
        // The server's own limits apply: a lower epoch cap refuses what the default accepts.
        let mut s = good(file.path());
        s.training.epochs = 50;
        s.validate(&roots(), &limits).unwrap();
        let strict = JobLimits {
            max_epochs: 20,
            ..limits
        };
        assert!(s.validate(&roots(), &strict).is_err());
    }

    #[test]
    fn every_string_and_list_is_bounded() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let ok = good(file.path());
        type Edit = Box<dyn Fn(&mut Submission)>;
        let long = "x".repeat(MAX_PATH_BYTES + 1);
        let cases: Vec<(&str, Edit)> = vec![
            (
                "labels",
                Box::new(|s| s.labels = vec!["a".into(); MAX_LABELS + 1]),
            ),
            (
                "model_config_json",
                Box::new(|s| s.model_config_json = " ".repeat(MAX_MODEL_CONFIG_BYTES + 1)),
            ),
            ("split", Box::new(|s| s.split = "r".repeat(MAX_OPTION_BYTES + 1))),
            (
                "dataset.path",
                Box::new(move |s| s.dataset.as_mut().unwrap().path = long.clone()),
            ),
            (
                "dataset.columns",
                Box::new(|s| s.dataset.as_mut().unwrap().columns = vec!["c".into(); MAX_COLUMNS + 1]),
            ),
            (
                "dataset.columns",
                Box::new(|s| s.dataset.as_mut().unwrap().columns = vec!["c".repeat(MAX_OPTION_BYTES + 1)]),
            ),
            (
                "dataset.time_column",
                Box::new(|s| s.dataset.as_mut().unwrap().time_column = "t".repeat(MAX_OPTION_BYTES + 1)),
            ),
        ];
        for (name, edit) in cases {
            let mut s = ok.clone();
            edit(&mut s);
            assert_eq!(field(&s), name);
        }
    }
}
