//! Forecast accuracy: errors on the scaled axis as the long-term forecasting literature reports
//! them ([`forecast_errors`]), and the residual scale per horizon step in original units that the
//! server's forecast quantiles come from ([`residual_stats`]).
use burn::prelude::*;
use statecast_models::artifact::{ForecastErrors, ResidualStats};
use statecast_models::forecaster::Forecaster;
use statecast_pipelines::window::{WindowBatch, WindowDataset};

/// MSE and MAE of `model` averaged over variates, horizon steps and windows (observed targets
/// only), on every window of `data` in order, in batches of `batch_size`; with
/// `drop_last` the final partial batch is skipped, as the published LTSF test loaders do
/// (`batch_size=32, drop_last=True`).
///
/// # Panics
/// If the dataset's window geometry differs from the model's (checked by the caller).
pub fn forecast_errors<M: Forecaster>(
    model: &M,
    data: &WindowDataset,
    batch_size: usize,
    drop_last: bool,
    device: &Device,
) -> ForecastErrors {
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
    ForecastErrors {
        mse: se / n,
        mae: ae / n,
        windows,
    }
}

/// [`ResidualStats`] of `model` on every window of `data` (a split of a frame scaled with
/// `scaler`); `None` when `data` has no window.
///
/// # Errors
/// [`statecast_pipelines::Error`] when `scaler` does not know a series of `data`.
pub fn residual_stats<M: Forecaster>(
    model: &M,
    data: &WindowDataset,
    scaler: &statecast_pipelines::scale::Scaler,
    split: &str,
    device: &Device,
) -> statecast_pipelines::Result<Option<ResidualStats>> {
    let spec = data.index().spec();
    let (h, v) = (spec.horizon, data.index().n_variates());
    let (mut se, mut count) = (vec![0f64; h * v], vec![0f64; h * v]);
    let mut windows = 0;
    for range in data.index().batches(32, false) {
        windows += range.len();
        let WindowBatch {
            x, y, y_mask, series, ..
        } = data.batch(range, device);
        let err = (model.forecast(x) - y) * y_mask.clone();
        let err = err.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        let mask = y_mask.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        for (b, s) in series.iter().enumerate() {
            let (_, scale) = scaler.stats(&data.frame().series[*s].id)?;
            for i in 0..h * v {
                let e = f64::from(err[b * h * v + i]) * f64::from(scale[i % v]);
                se[i] += e * e;
                count[i] += f64::from(mask[b * h * v + i]);
            }
        }
    }
    if windows == 0 {
        return Ok(None);
    }
    let std = (0..h)
        .map(|t| {
            (0..v)
                .map(|c| {
                    let i = t * v + c;
                    if count[i] > 0.0 {
                        (se[i] / count[i]).sqrt() as f32
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    Ok(Some(ResidualStats {
        method: "rms of forecast residuals per horizon step and variate, original units".into(),
        split: split.into(),
        windows,
        std,
    }))
}
