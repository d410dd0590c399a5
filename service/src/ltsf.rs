//! Long-term forecasting evaluation, exactly as the literature's protocol
//! (`docs/evaluation.md` §0): chronological split, z-score fitted on the training
//! rows only, stride-1 windows, MSE/MAE on the scaled axis averaged over variates, steps and
//! windows, the test loader's `batch_size=32, drop_last=True` convention on by default.
use std::time::Instant;

use burn::module::Module;
use serde::{Deserialize, Serialize};
use statecast_models::device::DeviceSpec;
use statecast_models::forecaster::Forecaster;
use statecast_models::train::{self, TrainConfig, TrainObserver};
use statecast_models::zoo::{AnyModel, ModelFamily};
use statecast_pipelines::source::DatasetSpec;
use statecast_pipelines::split::SplitSpec;

use crate::accuracy::{
    IntervalScores, MAX_CALIBRATION_VALUES, forecast_errors, interval_fit, interval_scores,
};
use crate::data::{PreparedData, prepare};
use crate::forecast::intervals::IntervalStats;
use crate::{Error, Result};
use statecast_models::artifact::ForecastErrors;

/// One evaluation request: a dataset, a protocol and a model family over several horizons.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// Dataset to read.
    pub data: DatasetSpec,
    /// Name reported in the results (e.g. `ETTh1`).
    pub dataset_name: String,
    /// Chronological split.
    pub split: SplitSpec,
    /// Model family.
    pub family: ModelFamily,
    /// Model configuration overrides as JSON merged into the family's defaults (optional).
    pub model_overrides: Option<serde_json::Value>,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizons `H` to evaluate.
    pub horizons: Vec<usize>,
    /// Training settings.
    pub train: TrainConfig,
    /// Device to train and test on.
    pub device: DeviceSpec,
    /// Skip the last partial test batch of 32 (the published convention).
    pub drop_last: bool,
}

/// One result row (the `--json` output format).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalRow {
    /// Dataset name.
    pub dataset: String,
    /// Model family.
    pub model: String,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// Test MSE on the scaled axis.
    pub mse: f64,
    /// Test MAE on the scaled axis.
    pub mae: f64,
    /// Training wall time, seconds (0 for untrained baselines).
    pub train_seconds: f64,
    /// Trainable parameter count.
    pub params: usize,
    /// Test windows scored.
    pub test_windows: usize,
    /// Epochs run and the epoch kept.
    pub epochs: usize,
    /// Epoch whose weights were kept (by validation loss).
    pub best_epoch: usize,
    /// Validation loss (MSE on the scaled validation windows) of the kept epoch; what settings
    /// are chosen by (never the test MSE). `None` without a validation split or training.
    #[serde(default)]
    pub val_mse: Option<f64>,
    /// Mean seconds per training epoch.
    pub seconds_per_epoch: f64,
    /// Forecast intervals fitted on the validation windows, scored on the test windows: the
    /// Gaussian method, then split-conformal. Empty without a validation split.
    #[serde(default)]
    pub intervals: Vec<IntervalScores>,
}

/// Train (when the family is trainable) and test `model` for one horizon.
///
/// # Errors
/// Data, configuration and training errors.
pub fn evaluate_horizon(
    prepared: &PreparedData,
    req: &EvalRequest,
    horizon: usize,
    observer: &mut dyn TrainObserver,
) -> Result<(EvalRow, AnyModel)> {
    let device = req.device.device()?;
    let sets = prepared.datasets(horizon)?;
    let test = sets.test.as_ref().ok_or_else(|| Error::InvalidArgument {
        field: "split".into(),
        reason: "the test split has no complete window".into(),
    })?;
    let config = req
        .family
        .default_config(req.lookback, horizon)
        .with_overrides(req.model_overrides.as_ref())?;
    // Initial weights from the run's seed, so that a seed names one model.
    let model = config.init_seeded(&device, req.train.seed)?;
    let params = model.num_params();
    let started = Instant::now();
    let (model, epochs, best_epoch, seconds_per_epoch, val_mse) = if req.family.trainable() {
        let outcome = train::fit(
            model,
            &sets.train,
            sets.val.as_ref(),
            &req.train,
            &device,
            None,
            observer,
        )?;
        let n = outcome.history.len();
        let per_epoch = outcome.history.iter().map(|m| m.seconds).sum::<f64>() / n.max(1) as f64;
        let val_mse = outcome
            .history
            .iter()
            .find(|m| m.epoch == outcome.best_epoch)
            .and_then(|m| m.val_loss);
        (outcome.model, n, outcome.best_epoch, per_epoch, val_mse)
    } else {
        (model, 0, 0, 0.0, None)
    };
    let train_seconds = if req.family.trainable() {
        started.elapsed().as_secs_f64()
    } else {
        0.0
    };
    let ForecastErrors { mse, mae, windows } = forecast_errors(&model, test, 32, req.drop_last, &device);
    let mut intervals = Vec::new();
    if let Some(val) = sets.val.as_ref()
        && let Some(fit) = interval_fit(
            &model,
            val,
            &prepared.scaler,
            "val",
            MAX_CALIBRATION_VALUES,
            &device,
        )?
    {
        let mut methods = vec![IntervalStats::gaussian(&fit.stats.std)];
        for grid in [fit.quantiles, fit.local_quantiles].into_iter().flatten() {
            methods.push(IntervalStats::conformal(&fit.stats.std, grid));
        }
        for stats in &methods {
            intervals.push(interval_scores(&model, test, &prepared.scaler, stats, &device)?);
        }
    }
    let row = EvalRow {
        dataset: req.dataset_name.clone(),
        model: config.kind().to_string(),
        lookback: req.lookback,
        horizon,
        mse,
        mae,
        train_seconds,
        params,
        test_windows: windows,
        epochs,
        best_epoch,
        seconds_per_epoch,
        val_mse,
        intervals,
    };
    Ok((row, model))
}

/// Run the whole request: one prepared dataset, every horizon.
///
/// # Errors
/// The first failing horizon's error.
pub fn evaluate(req: &EvalRequest, observer: &mut dyn TrainObserver) -> Result<Vec<EvalRow>> {
    let prepared = prepare(&req.data, &req.split, req.lookback)?;
    req.horizons
        .iter()
        .map(|&h| evaluate_horizon(&prepared, req, h, observer).map(|(row, _)| row))
        .collect()
}

/// The model's forecast in original units for plotting: [horizon][variates] for window `i` of
/// the test split, together with the actual values.
pub fn forecast_window<M: Forecaster>(
    model: &M,
    prepared: &PreparedData,
    test: &statecast_pipelines::window::WindowDataset,
    i: usize,
    device: &burn::prelude::Device,
) -> Option<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let item = test.item(i)?;
    let series = &prepared.scaled.series[item.series];
    let batch = test.batch(i..i + 1, device);
    let mut forecast = model
        .forecast(batch.x)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .ok()?;
    let (mut x, mut y) = (item.x, item.y);
    prepared.scaler.inverse_rows(&series.id, &mut x).ok()?;
    prepared.scaler.inverse_rows(&series.id, &mut y).ok()?;
    prepared.scaler.inverse_rows(&series.id, &mut forecast).ok()?;
    Some((x, y, forecast))
}
