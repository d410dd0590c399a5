//! Forecast accuracy on the scaled axis, as the long-term forecasting literature reports it.
use burn::prelude::*;
use statecast_models::forecaster::Forecaster;
use statecast_pipelines::window::{WindowBatch, WindowDataset};

/// MSE and MAE averaged over variates, horizon steps and windows (observed targets only).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForecastMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Windows scored (after `drop_last`).
    pub windows: usize,
}

/// Score `model` on every window of `data` in order, in batches of `batch_size`; with
/// `drop_last` the final partial batch is skipped, as the published LTSF test loaders do
/// (`batch_size=32, drop_last=True`).
///
/// # Panics
/// If the dataset's window geometry differs from the model's (checked by the caller).
pub fn score<M: Forecaster>(
    model: &M,
    data: &WindowDataset,
    batch_size: usize,
    drop_last: bool,
    device: &Device,
) -> ForecastMetrics {
    let (mut se, mut ae, mut count, mut windows) = (0f64, 0f64, 0f64, 0usize);
    for range in data.index().batches(batch_size.max(1), drop_last) {
        windows += range.len();
        let WindowBatch { x, y, y_mask, .. } = data.batch(range, device);
        let err = (model.forecast(x) - y) * y_mask.clone();
        se += err.clone().square().sum().into_scalar::<f32>() as f64;
        ae += err.abs().sum().into_scalar::<f32>() as f64;
        count += y_mask.sum().into_scalar::<f32>() as f64;
    }
    let n = count.max(1.0);
    ForecastMetrics {
        mse: se / n,
        mae: ae / n,
        windows,
    }
}
