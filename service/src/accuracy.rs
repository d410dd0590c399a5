//! Forecast accuracy: errors on the scaled axis as the long-term forecasting literature reports
//! them ([`forecast_errors`]), and the residual scale per horizon step in original units that the
//! server's forecast quantiles come from ([`interval_fit`]: the residual RMS for Gaussian intervals
//! and the split-conformal residual quantiles).
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use statecast_models::artifact::{ForecastErrors, ResidualStats};
use statecast_models::conformal::{self, ResidualQuantiles, ResidualSample};
use statecast_models::forecaster::Forecaster;
use statecast_pipelines::window::{WindowBatch, WindowDataset};

use crate::forecast::intervals::IntervalStats;

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

/// The most residuals (windows × horizon × variates) held to fit conformal quantiles: 32 MB of
/// `f32`. Larger validation splits are subsampled to evenly spaced windows.
pub const MAX_CALIBRATION_VALUES: usize = 8 << 20;

/// What the forecast intervals of a model version are fitted from: the root-mean-square residual
/// per step and variate over every window (Gaussian intervals) and the split-conformal residual
/// quantiles of at most [`MAX_CALIBRATION_VALUES`] residuals.
#[derive(Debug, Clone)]
pub struct IntervalFit {
    /// Residual RMS per horizon step and variate, original units.
    pub stats: ResidualStats,
    /// Conformal quantiles at [`conformal::LEVELS`]; `None` when some step or variate has no
    /// observed target.
    pub quantiles: Option<ResidualQuantiles>,
    /// The same, locally adaptive: residuals divided by their look-back window's volatility.
    pub local_quantiles: Option<ResidualQuantiles>,
}

/// The volatility of each variate of each window of a batch on the scaled axis, `[batch × V]`
/// ([`conformal::window_volatility`]; missing look-back values skipped).
pub(crate) fn batch_volatility(x: Tensor<3>, x_mask: Tensor<3>) -> Vec<f32> {
    let [b, l, v] = x.dims();
    let x = x.into_data().try_into_vec_as::<f32>().unwrap_or_default();
    let mask = x_mask.into_data().try_into_vec_as::<f32>().unwrap_or_default();
    let masked: Vec<f32> = x
        .iter()
        .zip(&mask)
        .map(|(x, m)| if *m > 0.0 { *x } else { f32::NAN })
        .collect();
    (0..b)
        .flat_map(|i| conformal::window_volatility(&masked[i * l * v..(i + 1) * l * v], v))
        .collect()
}

/// Residuals `actual − forecast` of `model` on the windows of `data` (a split of a frame scaled
/// with `scaler`): every window's in original units for [`ResidualStats`], and a sample of evenly
/// spaced windows of at most `max_values` residuals on the scaled axis for the conformal grid.
/// `None` when `data` has no window.
///
/// # Errors
/// [`statecast_pipelines::Error`] when `scaler` does not know a series of `data`.
pub fn interval_fit<M: Forecaster>(
    model: &M,
    data: &WindowDataset,
    scaler: &statecast_pipelines::scale::Scaler,
    split: &str,
    max_values: usize,
    device: &Device,
) -> statecast_pipelines::Result<Option<IntervalFit>> {
    let spec = data.index().spec();
    let (h, v) = (spec.horizon, data.index().n_variates());
    let hv = h * v;
    let total = data.index().len();
    if total == 0 || hv == 0 {
        return Ok(None);
    }
    let keep = total.min((max_values / hv).max(1));
    let kept = |i: usize| (i + 1) * keep / total > i * keep / total;
    let (mut se, mut count) = (vec![0f64; hv], vec![0f64; hv]);
    let mut sample = Vec::with_capacity(keep * hv);
    let mut volatility = Vec::with_capacity(keep * v);
    let mut windows = 0;
    for range in data.index().batches(32, false) {
        let first = range.start;
        let WindowBatch {
            x,
            y,
            x_mask,
            y_mask,
            series,
            ..
        } = data.batch(range, device);
        let batch_vol = batch_volatility(x.clone(), x_mask);
        let err = (y - model.forecast(x)) * y_mask.clone();
        let err = err.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        let mask = y_mask.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        for (b, s) in series.iter().enumerate() {
            let (_, scale) = scaler.stats(&data.frame().series[*s].id)?;
            let keep_window = kept(first + b);
            if keep_window {
                volatility.extend_from_slice(&batch_vol[b * v..(b + 1) * v]);
            }
            for i in 0..hv {
                let observed = mask[b * hv + i] > 0.0;
                let scaled = err[b * hv + i];
                let e = f64::from(scaled) * f64::from(scale[i % v]);
                if observed {
                    se[i] += e * e;
                    count[i] += 1.0;
                }
                if keep_window {
                    sample.push(if observed { scaled } else { f32::NAN });
                }
            }
            windows += 1;
        }
    }
    let std: Vec<Vec<f32>> = (0..h)
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
    let sample = ResidualSample {
        horizon: h,
        variates: v,
        values: sample,
    };
    let quantiles = sample.quantiles(&conformal::LEVELS, split);
    let (standardised, floor) = sample.standardised(&volatility);
    let local_quantiles = standardised.quantiles(&conformal::LEVELS, split).map(|mut g| {
        g.volatility_floor = Some(floor);
        g
    });
    Ok(Some(IntervalFit {
        stats: ResidualStats {
            method: "rms of forecast residuals per horizon step and variate, original units".into(),
            split: split.into(),
            windows,
            std,
        },
        quantiles,
        local_quantiles,
    }))
}

/// Central interval levels whose test coverage `statecast eval` reports.
pub const COVERAGE_LEVELS: [f64; 3] = [0.8, 0.9, 0.95];

/// Quantile levels of the weighted quantile loss (GluonTS's `mean_wQuantileLoss` default grid).
pub const WQL_LEVELS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// The quantile offsets an interval method is scored with, in the method's units, `[H × V]`
/// per level: each forecast multiplies them by its variate's unit (the series' scale, its
/// look-back's volatility; [`IntervalStats::units`]).
pub(crate) struct ScoredOffsets {
    /// Lower and upper offsets of the central intervals at [`COVERAGE_LEVELS`].
    bands: Vec<(Vec<f64>, Vec<f64>)>,
    /// Offsets at [`WQL_LEVELS`].
    wql: Vec<Vec<f64>>,
}

impl ScoredOffsets {
    /// The offsets of `intervals`.
    pub(crate) fn of(intervals: &IntervalStats) -> Self {
        Self {
            bands: COVERAGE_LEVELS
                .iter()
                .map(|c| {
                    (
                        intervals.offsets((1.0 - c) / 2.0),
                        intervals.offsets((1.0 + c) / 2.0),
                    )
                })
                .collect(),
            wql: WQL_LEVELS.iter().map(|q| intervals.offsets(*q)).collect(),
        }
    }

    /// The width of the 90 % interval at step-and-variate `i`, in the method's units.
    pub(crate) fn width90(&self, i: usize) -> f64 {
        let (lo, hi) = &self.bands[1];
        hi[i] - lo[i]
    }

    /// Score one observed residual `r = y − ŷ` (original units) at step-and-variate `i` whose
    /// variate's unit is `unit`: counts it in `inside` for each interval that holds it, and
    /// returns its pinball loss summed over [`WQL_LEVELS`].
    pub(crate) fn score(
        &self,
        i: usize,
        r: f64,
        unit: f64,
        inside: &mut [usize; COVERAGE_LEVELS.len()],
    ) -> f64 {
        for (k, (lo, hi)) in self.bands.iter().enumerate() {
            if r >= lo[i] * unit && r <= hi[i] * unit {
                inside[k] += 1;
            }
        }
        WQL_LEVELS
            .iter()
            .zip(&self.wql)
            .map(|(q, w)| {
                let e = r - w[i] * unit;
                if e >= 0.0 { q * e } else { (q - 1.0) * e }
            })
            .sum()
    }
}

/// How one interval method did on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalScores {
    /// The interval method ([`crate::forecast::intervals`]).
    pub method: String,
    /// `(nominal, empirical)` coverage of the central intervals at [`COVERAGE_LEVELS`]: the share
    /// of observed targets inside `[q_(1−c)/2, q_(1+c)/2]`, over windows, steps and variates.
    pub coverage: Vec<(f64, f64)>,
    /// Mean width of the 90 % interval in original units, averaged over windows, steps and
    /// variates (variates with larger units weigh more).
    pub width90: f64,
    /// Weighted quantile loss over [`WQL_LEVELS`]: the mean over levels of
    /// `2 Σ pinball_q(y − ŷ_q) / Σ |y|`, original units.
    pub wql: f64,
    /// Windows scored.
    pub windows: usize,
}

/// Coverage, 90 % width and weighted quantile loss of `intervals` on every window of `data` (a
/// split of a frame scaled with `scaler`), in original units.
///
/// # Errors
/// [`statecast_pipelines::Error`] when `scaler` does not know a series of `data`.
pub fn interval_scores<M: Forecaster>(
    model: &M,
    data: &WindowDataset,
    scaler: &statecast_pipelines::scale::Scaler,
    intervals: &IntervalStats,
    device: &Device,
) -> statecast_pipelines::Result<IntervalScores> {
    let spec = data.index().spec();
    let (h, v) = (spec.horizon, data.index().n_variates());
    let hv = h * v;
    let offsets = ScoredOffsets::of(intervals);
    let mut width90 = 0f64;
    let mut inside = [0usize; COVERAGE_LEVELS.len()];
    let mut pinball = 0f64;
    let (mut abs_y, mut observed, mut windows) = (0f64, 0usize, 0usize);
    for range in data.index().batches(32, false) {
        let WindowBatch {
            x,
            y,
            x_mask,
            y_mask,
            series,
            ..
        } = data.batch(range, device);
        let batch_vol = intervals
            .needs_volatility()
            .then(|| batch_volatility(x.clone(), x_mask));
        let forecast = model
            .forecast(x)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap_or_default();
        let actual = y.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        let mask = y_mask.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        for (b, s) in series.iter().enumerate() {
            let (mean, scale) = scaler.stats(&data.frame().series[*s].id)?;
            let vol = batch_vol.as_ref().map(|bv| &bv[b * v..(b + 1) * v]);
            let units: Vec<f64> = intervals.units(scale, vol).into_iter().map(f64::from).collect();
            width90 += (0..hv).map(|i| offsets.width90(i) * units[i % v]).sum::<f64>() / hv.max(1) as f64;
            windows += 1;
            for i in 0..hv {
                let j = b * hv + i;
                if mask[j] <= 0.0 {
                    continue;
                }
                let (m, sc, unit) = (f64::from(mean[i % v]), f64::from(scale[i % v]), units[i % v]);
                let y_orig = f64::from(actual[j]) * sc + m;
                let r = (f64::from(actual[j]) - f64::from(forecast[j])) * sc;
                observed += 1;
                abs_y += y_orig.abs();
                pinball += offsets.score(i, r, unit, &mut inside);
            }
        }
    }
    let n = observed.max(1) as f64;
    Ok(IntervalScores {
        method: intervals.method.clone(),
        coverage: COVERAGE_LEVELS
            .iter()
            .zip(&inside)
            .map(|(c, k)| (*c, *k as f64 / n))
            .collect(),
        width90: width90 / windows.max(1) as f64,
        wql: 2.0 * pinball / WQL_LEVELS.len() as f64 / abs_y.max(f64::MIN_POSITIVE),
        windows,
    })
}
