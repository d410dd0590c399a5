//! Long-term forecasting evaluation, exactly as the literature's protocol
//! (`shared/design/evaluation.md` §0): chronological split, z-score fitted on the training
//! rows only, stride-1 windows, MSE/MAE on the scaled axis averaged over variates, steps and
//! windows, the test loader's `batch_size=32, drop_last=True` convention on by default.
use std::time::Instant;

use burn::module::Module;
use serde::{Deserialize, Serialize};
use statecast_models::baseline::{LinearConfig, RepeatConfig};
use statecast_models::device::DeviceSpec;
use statecast_models::forecaster::Forecaster;
use statecast_models::spacetime::SpaceTimeConfig;
use statecast_models::train::{self, TrainConfig, TrainObserver};
use statecast_models::zoo::{AnyModel, ModelConfig};
use statecast_pipelines::source::DatasetSpec;
use statecast_pipelines::split::SplitSpec;

use crate::data::{PreparedData, prepare};
use crate::metrics::{ForecastMetrics, score};
use crate::{Error, Result};

/// Model families the CLI and jobs can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// SpaceTime: companion SSM encoder + closed-loop decoder.
    Spacetime,
    /// NLinear-style linear map over time (trained).
    Linear,
    /// Repeat the last look-back value (no training).
    Repeat,
}

impl ModelKind {
    /// statecast's default configuration of this family for look-back `l` and horizon `h`:
    /// the best settings found on this project's CPU budget (see BENCHMARKS.md).
    pub fn default_config(self, l: usize, h: usize) -> ModelConfig {
        match self {
            Self::Spacetime => ModelConfig::SpaceTime(spacetime_defaults(l, h)),
            Self::Linear => ModelConfig::Linear(LinearConfig::new(l, h)),
            Self::Repeat => ModelConfig::Repeat(RepeatConfig::new(l, h)),
        }
    }

    /// Whether the family has parameters to train.
    pub fn trainable(self) -> bool {
        !matches!(self, Self::Repeat)
    }
}

/// SpaceTime as statecast runs it by default: narrower than the reference (width 128, d 64,
/// 2 encoder blocks), which trains several times faster on CPU; see BENCHMARKS.md.
pub fn spacetime_defaults(l: usize, h: usize) -> SpaceTimeConfig {
    SpaceTimeConfig::new(l, h)
        .with_d_model(64)
        .with_state_dim(32)
        .with_first_n_kernels(8)
        .with_first_n_heads(8)
        .with_n_kernels(64)
        .with_n_encoder_blocks(1)
        .with_dropout(0.1)
}

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
    pub kind: ModelKind,
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
    /// Mean seconds per training epoch.
    pub seconds_per_epoch: f64,
}

/// Merge JSON `overrides` into the serialised `config` (object keys replace).
pub fn apply_overrides(config: ModelConfig, overrides: Option<&serde_json::Value>) -> Result<ModelConfig> {
    let Some(overrides) = overrides else {
        config.validate()?;
        return Ok(config);
    };
    let mut value = serde_json::to_value(&config).map_err(|e| invalid("model", e.to_string()))?;
    if let (Some(inner), Some(patch)) = (
        value.get_mut("config").and_then(|c| c.as_object_mut()),
        overrides.as_object(),
    ) {
        for (k, v) in patch {
            if !inner.contains_key(k) {
                return Err(invalid(
                    "model",
                    format!("unknown {} setting `{k}`", config.kind()),
                ));
            }
            inner.insert(k.clone(), v.clone());
        }
    }
    let config: ModelConfig = serde_json::from_value(value).map_err(|e| invalid("model", e.to_string()))?;
    config.validate()?;
    Ok(config)
}

fn invalid(field: &str, reason: String) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        reason,
    }
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
    let test = sets
        .test
        .as_ref()
        .ok_or_else(|| invalid("split", "the test split has no complete window".into()))?;
    let config = apply_overrides(
        req.kind.default_config(req.lookback, horizon),
        req.model_overrides.as_ref(),
    )?;
    let model = config.init(&device);
    let params = model.num_params();
    let started = Instant::now();
    let (model, epochs, best_epoch, seconds_per_epoch) = if req.kind.trainable() {
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
        (outcome.model, n, outcome.best_epoch, per_epoch)
    } else {
        (model, 0, 0, 0.0)
    };
    let train_seconds = if req.kind.trainable() {
        started.elapsed().as_secs_f64()
    } else {
        0.0
    };
    let ForecastMetrics { mse, mae, windows } = score(&model, test, 32, req.drop_last, &device);
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
