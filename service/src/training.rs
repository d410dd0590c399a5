//! Train one model on a dataset and write a self-contained artifact: what `statecast train`
//! and the server's training jobs both call.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use statecast_models::artifact::{Artifact, DataSchema, Evaluation, ForecastErrors, TrainingRecord};
use statecast_models::device::DeviceSpec;
use statecast_models::train::{self, TrainConfig, TrainObserver};
use statecast_models::zoo::{ModelConfig, ModelFamily};
use statecast_pipelines::source::{DatasetSpec, Layout};
use statecast_pipelines::split::SplitSpec;

use crate::Result;
use crate::accuracy::{MAX_CALIBRATION_VALUES, forecast_errors, interval_fit};
use crate::data::prepare;

/// Everything a training run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainRequest {
    /// Dataset and column mapping.
    pub data: DatasetSpec,
    /// Chronological split (the scaler is fitted on its training rows).
    pub split: SplitSpec,
    /// Model family (`kind` in requests saved by earlier versions).
    #[serde(alias = "kind")]
    pub family: ModelFamily,
    /// Settings merged into the family's defaults.
    #[serde(default)]
    pub model_overrides: Option<serde_json::Value>,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// Optimiser, schedule, early stopping.
    pub train: TrainConfig,
    /// Compute device.
    pub device: DeviceSpec,
    /// Artifact directory to write (replaced atomically if it exists).
    pub out: PathBuf,
    /// Checkpoints for resuming after a kill (`None` = no checkpoints).
    #[serde(default)]
    pub checkpoint_dir: Option<PathBuf>,
}

/// What a finished run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Artifact directory.
    pub artifact: PathBuf,
    /// Test metrics on the scaled axis (all windows), when the split has a test part.
    pub test: Option<ForecastErrors>,
    /// Validation metrics on the scaled axis, when the split has a validation part.
    pub val: Option<ForecastErrors>,
    /// Epochs run, epoch kept.
    pub epochs: usize,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Epoch training resumed from, if it did.
    pub resumed_from: Option<usize>,
    /// Training wall time, seconds.
    pub seconds: f64,
}

/// Train per `req` and write the artifact.
///
/// # Errors
/// Data, configuration, training and artifact I/O errors.
pub fn train_to_artifact(req: &TrainRequest, observer: &mut dyn TrainObserver) -> Result<TrainSummary> {
    train_to_artifact_checked(req, observer, &|_, _| Ok(()))
}

/// [`train_to_artifact`], asking `admit(config, variates)` once the dataset is read and before
/// the model is built (the server checks the model's size against its limits there, when the
/// number of variates is known).
///
/// # Errors
/// As [`train_to_artifact`], and whatever `admit` returns.
pub fn train_to_artifact_checked(
    req: &TrainRequest,
    observer: &mut dyn TrainObserver,
    admit: &dyn Fn(&ModelConfig, usize) -> Result<()>,
) -> Result<TrainSummary> {
    let device = req.device.device()?;
    let prepared = prepare(&req.data, &req.split, req.lookback)?;
    let sets = prepared.datasets(req.horizon)?;
    let config = req
        .family
        .default_config(req.lookback, req.horizon)
        .with_overrides(req.model_overrides.as_ref())?;
    admit(&config, prepared.scaled.columns.len())?;
    // Initial weights from the run's seed, so that a seed names one model.
    let model = config.init_seeded(&device, req.train.seed)?;
    let outcome = train::fit(
        model,
        &sets.train,
        sets.val.as_ref(),
        &req.train,
        &device,
        req.checkpoint_dir.as_deref(),
        observer,
    )?;
    let test = sets
        .test
        .as_ref()
        .map(|t| forecast_errors(&outcome.model, t, 32, false, &device));
    let artifact = build_artifact(
        &req.data,
        &prepared,
        sets.val.as_ref(),
        config,
        &req.train,
        &req.device,
        &outcome,
        test,
        &device,
    )?;
    let val = artifact.evaluation.val;
    artifact.save(&outcome.model, &req.out)?;
    Ok(TrainSummary {
        artifact: req.out.clone(),
        test,
        val,
        epochs: outcome.history.len(),
        best_epoch: outcome.best_epoch,
        resumed_from: outcome.resumed_from,
        seconds: outcome.seconds,
    })
}

/// The artifact of a finished run: schema from the dataset spec and the prepared data, the
/// training record, validation errors (and `test` when given), and the validation residuals'
/// RMS and conformal quantiles for forecast intervals.
///
/// # Errors
/// Scaler errors while computing the residual statistics.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_artifact(
    data: &DatasetSpec,
    prepared: &crate::data::PreparedData,
    val_set: Option<&statecast_pipelines::window::WindowDataset>,
    config: ModelConfig,
    train_config: &TrainConfig,
    device_spec: &DeviceSpec,
    outcome: &train::TrainOutcome<statecast_models::zoo::AnyModel>,
    test: Option<ForecastErrors>,
    device: &burn::prelude::Device,
) -> Result<Artifact> {
    let val = val_set.map(|v| forecast_errors(&outcome.model, v, 32, false, device));
    let (time_column, series_column) = match &data.layout {
        Layout::Wide {
            time_column,
            series_column,
            ..
        } => (time_column.clone(), series_column.clone()),
        Layout::Long {
            time_column,
            series_column,
            ..
        } => (Some(time_column.clone()), Some(series_column.clone())),
    };
    let schema = DataSchema {
        columns: prepared.scaled.columns.clone(),
        frequency: Some(prepared.report.frequency.to_string()),
        lookback: prepared.lookback,
        horizon: statecast_models::forecaster::Forecaster::horizon(&outcome.model),
        time_column,
        series_column,
    };
    let mut artifact = Artifact::new(config, prepared.scaler.clone(), schema);
    artifact.training = Some(TrainingRecord::from_outcome(
        train_config,
        outcome,
        device_spec.to_string(),
    ));
    artifact.evaluation = Evaluation { test, val };
    // The validation residuals the server's forecast quantiles come from: their RMS per step and
    // variate (Gaussian) and their split-conformal quantiles.
    if let Some(v) = val_set
        && let Some(fit) = interval_fit(
            &outcome.model,
            v,
            &prepared.scaler,
            "val",
            MAX_CALIBRATION_VALUES,
            device,
        )?
    {
        artifact.residuals = Some(fit.stats);
        // The locally adaptive grid: closer to nominal test coverage on the ETT sets than the
        // plain one (BENCHMARKS.md §16), which remains the fallback.
        artifact.residual_quantiles = fit.local_quantiles.or(fit.quantiles);
    }
    Ok(artifact)
}

/// The default checkpoint directory for an artifact directory: `<out>.ckpt`.
pub fn default_checkpoint_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".ckpt");
    out.with_file_name(name)
}
