//! Rolling-origin backtests: forecast from several cut-offs in a series' past, as if each were
//! "now", refitting the model on the history before a cut-off every `k` cut-offs (or once), and
//! score every forecast against what happened.
//!
//! **Cut-offs.** With `N` cut-offs `step` rows apart and horizon `H`, cut-off `i` (1-based) of a
//! series of `T` rows is row `c_i = T − H − (N − i) · step`: the first forecast row. The last
//! cut-off's forecast ends on the series' last row. Series of different lengths share offsets from
//! their ends, which for aligned series is one timestamp. Each forecast reads the look-back
//! `[c_i − L, c_i)` and is scored on `[c_i, c_i + H)`.
//!
//! **Fits.** A fit at cut-off `i` sees only rows before `c_i` of every series: the last
//! `val_fraction` of them (at least one window) for early stopping and the forecast intervals,
//! the rest for training and the scaler. It serves cut-offs `i … i + k − 1` (`refit_every = k`;
//! `0` fits once, at the first cut-off). Untrainable families (Repeat) are "fitted" by their
//! scaler alone.
//!
//! **Metrics** per cut-off, series and horizon step, averaged over the observed variates, in
//! original units: MSE, MAE; sMAPE (`200 |y − ŷ| / (|y| + |ŷ|)`, %, M4's definition; terms with
//! `y = ŷ = 0` skipped); MASE (`|y − ŷ|` over the mean absolute `season`-step difference of the
//! series' history before the cut-off, per variate); coverage of the 80/90/95 % intervals and the
//! weighted quantile loss of the fit's intervals (see [`crate::forecast::intervals`]).
use std::ops::Range;
use std::sync::Arc;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use statecast_models::device::DeviceSpec;
use statecast_models::forecaster::Forecaster;
use statecast_models::train::{self, TrainConfig, TrainObserver};
use statecast_models::zoo::{AnyModel, ModelFamily};
use statecast_pipelines::TimeFrame;
use statecast_pipelines::scale::{Scaler, ScalerKind, ScalerScope};
use statecast_pipelines::source::{self, DatasetSpec};
use statecast_pipelines::split::{SplitPart, SplitRanges};
use statecast_pipelines::window::{WindowBatch, WindowDataset, WindowIndex, WindowSpec};

use crate::accuracy::{MAX_CALIBRATION_VALUES, ScoredOffsets, WQL_LEVELS, batch_volatility, interval_fit};
use crate::forecast::intervals::IntervalStats;
use crate::{Error, Result};

/// The most cut-offs one backtest may have.
pub const MAX_CUTOFFS: usize = 1000;
/// The most fits one backtest may run.
pub const MAX_FITS: usize = 100;

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Where the cut-offs lie and how often the model is refitted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestPlan {
    /// Number of cut-offs `N` (1 ..= [`MAX_CUTOFFS`]).
    pub cutoffs: usize,
    /// Rows between consecutive cut-offs (≥ 1; the horizon is the usual choice).
    pub step: usize,
    /// Refit every this many cut-offs; 0 = fit once, at the first cut-off.
    pub refit_every: usize,
    /// Share of the history before a fit's cut-off used as its validation rows (0 < f < 1).
    pub val_fraction: f64,
    /// Season of MASE's naive forecast, in rows (1 = the previous row).
    pub season: usize,
}

impl BacktestPlan {
    /// Check the plan's own bounds.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.cutoffs == 0 || self.cutoffs > MAX_CUTOFFS {
            return Err(invalid("cutoffs", format!("must be in 1..={MAX_CUTOFFS}")));
        }
        if self.step == 0 {
            return Err(invalid("step", "must be at least 1"));
        }
        if self.fits().len() > MAX_FITS {
            return Err(invalid(
                "refit_every",
                format!(
                    "{} cut-offs refitted every {} would be {} fits (at most {MAX_FITS})",
                    self.cutoffs,
                    self.refit_every,
                    self.fits().len()
                ),
            ));
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return Err(invalid("val_fraction", "must be in (0, 1)"));
        }
        if self.season == 0 {
            return Err(invalid("season", "must be at least 1"));
        }
        Ok(())
    }

    /// The 0-based cut-offs at which a model is fitted, ascending (always the first).
    pub fn fits(&self) -> Vec<usize> {
        match self.refit_every {
            0 => vec![0],
            k => (0..self.cutoffs).step_by(k).collect(),
        }
    }

    /// Cut-off rows `c_1 < … < c_N` of a series of `len` rows for horizon `horizon`, where every
    /// forecast has `lookback` rows before it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`cutoffs`) when the first cut-off falls before `lookback`.
    pub fn cutoff_rows(&self, len: usize, lookback: usize, horizon: usize) -> Result<Vec<usize>> {
        let back = (self.cutoffs - 1)
            .checked_mul(self.step)
            .and_then(|b| b.checked_add(horizon))
            .unwrap_or(usize::MAX);
        let first = len.checked_sub(back).filter(|c| *c >= lookback).ok_or_else(|| {
            invalid(
                "cutoffs",
                format!(
                    "{} cut-offs {} rows apart with horizon {horizon} reach back {back} rows, but a series of {len} rows \
                     leaves room for {} (look-back {lookback})",
                    self.cutoffs,
                    self.step,
                    len.saturating_sub(lookback)
                ),
            )
        })?;
        Ok((0..self.cutoffs).map(|i| first + i * self.step).collect())
    }
}

/// One backtest: a dataset, a model family and the plan.
#[derive(Debug, Clone)]
pub struct BacktestRequest {
    /// Dataset and column mapping.
    pub data: DatasetSpec,
    /// Model family.
    pub family: ModelFamily,
    /// Settings merged into the family's defaults.
    pub model_overrides: Option<serde_json::Value>,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// Training settings of every fit.
    pub train: TrainConfig,
    /// Device.
    pub device: DeviceSpec,
    /// Cut-offs and refits.
    pub plan: BacktestPlan,
}

/// The scores of one forecast step of one series at one cut-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestRow {
    /// Cut-off number, 1-based.
    pub cutoff: usize,
    /// Timestamp of the cut-off's first forecast row of this series (µs since the epoch).
    pub cutoff_time: i64,
    /// Cut-off (1-based) of the fit whose model made the forecast.
    pub fitted_at: usize,
    /// Series id.
    pub series: String,
    /// Horizon step, 1-based.
    pub step: usize,
    /// Observed variates at this step (the averages' count).
    pub observed: usize,
    /// Mean squared error, original units.
    pub mse: f64,
    /// Mean absolute error, original units.
    pub mae: f64,
    /// Symmetric MAPE, percent (`NaN` when every term was skipped).
    pub smape: f64,
    /// Mean absolute scaled error (`NaN` when no variate's history varies).
    pub mase: f64,
    /// Share of variates inside the central 80 / 90 / 95 % interval.
    pub coverage: [f64; 3],
    /// Weighted quantile loss at this step: `2 Σ pinball / Σ |y|` over variates and the
    /// [`WQL_LEVELS`], averaged over levels.
    pub wql: f64,
    /// `Σ pinball` over variates, summed over levels (for aggregating WQL).
    pub pinball_sum: f64,
    /// `Σ |y|` over variates (for aggregating WQL).
    pub abs_actual_sum: f64,
}

/// One fit of a backtest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitRecord {
    /// Cut-off (1-based) it was fitted at.
    pub cutoff: usize,
    /// Epochs run (0 for untrainable families).
    pub epochs: usize,
    /// Seconds spent fitting.
    pub seconds: f64,
    /// Interval method of its forecasts (empty without validation windows).
    pub interval_method: String,
}

/// Everything a backtest produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BacktestReport {
    /// One row per cut-off, series and step, in that order.
    pub rows: Vec<BacktestRow>,
    /// One record per fit.
    pub fits: Vec<FitRecord>,
}

/// Averages of rows (one cut-off, or all).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestSummary {
    /// Rows averaged.
    pub rows: usize,
    /// Mean MSE.
    pub mse: f64,
    /// Mean MAE.
    pub mae: f64,
    /// Mean sMAPE over rows where it is defined.
    pub smape: f64,
    /// Mean MASE over rows where it is defined.
    pub mase: f64,
    /// Mean coverage of the 80 / 90 / 95 % intervals.
    pub coverage: [f64; 3],
    /// Weighted quantile loss of the rows together.
    pub wql: f64,
}

impl BacktestSummary {
    /// Averages of `rows` (rows without observed values are skipped).
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a BacktestRow>) -> Self {
        let rows: Vec<&BacktestRow> = rows.into_iter().filter(|r| r.observed > 0).collect();
        let n = rows.len().max(1) as f64;
        let defined = |f: fn(&BacktestRow) -> f64| {
            let v: Vec<f64> = rows.iter().map(|r| f(r)).filter(|x| x.is_finite()).collect();
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let (pinball, abs_y) = rows
            .iter()
            .fold((0.0, 0.0), |(p, a), r| (p + r.pinball_sum, a + r.abs_actual_sum));
        Self {
            rows: rows.len(),
            mse: rows.iter().map(|r| r.mse).sum::<f64>() / n,
            mae: rows.iter().map(|r| r.mae).sum::<f64>() / n,
            smape: defined(|r| r.smape),
            mase: defined(|r| r.mase),
            coverage: std::array::from_fn(|k| rows.iter().map(|r| r.coverage[k]).sum::<f64>() / n),
            wql: 2.0 * pinball / WQL_LEVELS.len() as f64 / abs_y,
        }
    }
}

/// A fitted model with the scaler and frame it reads.
struct Fitted {
    model: AnyModel,
    scaled: Arc<TimeFrame>,
    scaler: Scaler,
    intervals: Option<IntervalStats>,
}

/// Run `req`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a plan the data cannot hold (naming the field), data,
/// configuration and training errors.
pub fn run(req: &BacktestRequest, observer: &mut dyn TrainObserver) -> Result<BacktestReport> {
    req.plan.validate()?;
    let (frame, _) = source::load(&req.data)?;
    let (l, h) = (req.lookback, req.horizon);
    let cutoffs: Vec<Vec<usize>> = frame
        .series
        .iter()
        .map(|s| req.plan.cutoff_rows(s.len(), l, h))
        .collect::<Result<_>>()?;
    let device = req.device.device()?;
    let config = req
        .family
        .default_config(l, h)
        .with_overrides(req.model_overrides.as_ref())?;
    let fits = req.plan.fits();
    let mut report = BacktestReport {
        rows: Vec::new(),
        fits: Vec::new(),
    };
    for (f, &at) in fits.iter().enumerate() {
        let until = fits.get(f + 1).copied().unwrap_or(req.plan.cutoffs);
        let history: Vec<usize> = cutoffs.iter().map(|c| c[at]).collect();
        let started = std::time::Instant::now();
        let (fitted, epochs) = fit(req, &config, &frame, &history, &device, observer)?;
        report.fits.push(FitRecord {
            cutoff: at + 1,
            epochs,
            seconds: started.elapsed().as_secs_f64(),
            interval_method: fitted
                .intervals
                .as_ref()
                .map(|i| i.method.clone())
                .unwrap_or_default(),
        });
        for i in at..until {
            let rows: Vec<usize> = cutoffs.iter().map(|c| c[i]).collect();
            report
                .rows
                .extend(score_cutoff(&fitted, &frame, &rows, i + 1, at + 1, req, &device)?);
        }
    }
    Ok(report)
}

/// Fit on the rows before `history[s]` of every series `s`.
fn fit(
    req: &BacktestRequest,
    config: &statecast_models::zoo::ModelConfig,
    frame: &TimeFrame,
    history: &[usize],
    device: &Device,
    observer: &mut dyn TrainObserver,
) -> Result<(Fitted, usize)> {
    let (l, h) = (req.lookback, req.horizon);
    let ranges: Vec<SplitRanges> = frame
        .series
        .iter()
        .zip(history)
        .map(|(s, &c)| {
            let val_rows = ((c as f64 * req.plan.val_fraction) as usize).max(h + 1);
            let train_end = c.saturating_sub(val_rows);
            if train_end < l + h {
                return Err(invalid(
                    "cutoffs",
                    format!(
                        "series `{}` has {c} rows before a fit's cut-off: too few for {val_rows} validation rows and one \
                         training window of {l} + {h} rows (use fewer cut-offs, a smaller step or a later first fit)",
                        s.id
                    ),
                ));
            }
            Ok(SplitRanges {
                train: 0..train_end,
                val: train_end - l..c,
                test: c - l..s.len(),
            })
        })
        .collect::<Result<_>>()?;
    let scaler = Scaler::fit_train(frame, ScalerKind::ZScore, ScalerScope::Global, &ranges)?;
    let mut scaled = frame.clone();
    scaler.transform(&mut scaled)?;
    let scaled = Arc::new(scaled);
    let window = WindowSpec::new(l, h);
    let part = |p: SplitPart| -> Result<Option<WindowDataset>> {
        let index = WindowIndex::for_split(&scaled, window, &ranges, p)?;
        Ok((!index.is_empty())
            .then(|| WindowDataset::new(scaled.clone(), index))
            .transpose()?)
    };
    let train_set =
        part(SplitPart::Train)?.ok_or_else(|| invalid("cutoffs", "a fit has no training window"))?;
    let val_set = part(SplitPart::Val)?;
    // Initial weights from the run's seed: the same seed gives the same fit.
    let model = config.init_seeded(device, req.train.seed)?;
    let (model, epochs) = if req.family.trainable() {
        let outcome = train::fit(
            model,
            &train_set,
            val_set.as_ref(),
            &req.train,
            device,
            None,
            observer,
        )?;
        let epochs = outcome.history.len();
        (outcome.model, epochs)
    } else {
        (model, 0)
    };
    let intervals = match &val_set {
        Some(val) => interval_fit(&model, val, &scaler, "val", MAX_CALIBRATION_VALUES, device)?.map(|fit| {
            match fit.local_quantiles.or(fit.quantiles) {
                Some(grid) => IntervalStats::conformal(&fit.stats.std, grid),
                None => IntervalStats::gaussian(&fit.stats.std),
            }
        }),
        None => None,
    };
    Ok((
        Fitted {
            model,
            scaled,
            scaler,
            intervals,
        },
        epochs,
    ))
}

/// The rows of one cut-off: every series forecast from the look-back before `rows[s]`.
fn score_cutoff(
    fitted: &Fitted,
    frame: &TimeFrame,
    rows: &[usize],
    cutoff: usize,
    fitted_at: usize,
    req: &BacktestRequest,
    device: &Device,
) -> Result<Vec<BacktestRow>> {
    let (l, h) = (req.lookback, req.horizon);
    let v = frame.n_variates();
    let ranges: Vec<Range<usize>> = rows.iter().map(|&c| c - l..c + h).collect();
    let index = WindowIndex::new(&fitted.scaled, WindowSpec::new(l, h), ranges)?;
    let data = WindowDataset::new(fitted.scaled.clone(), index)?;
    let offsets = fitted.intervals.as_ref().map(ScoredOffsets::of);
    let mut out = Vec::with_capacity(rows.len() * h);
    for range in data.index().batches(256, false) {
        let WindowBatch {
            x,
            y,
            x_mask,
            y_mask,
            series,
            starts,
        } = data.batch(range, device);
        let batch_vol = fitted
            .intervals
            .as_ref()
            .is_some_and(IntervalStats::needs_volatility)
            .then(|| batch_volatility(x.clone(), x_mask));
        let forecast = fitted
            .model
            .forecast(x)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap_or_default();
        let actual = y.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        let mask = y_mask.into_data().try_into_vec_as::<f32>().unwrap_or_default();
        for (b, (&s, &start)) in series.iter().zip(&starts).enumerate() {
            let raw = &frame.series[s];
            let c = start + l;
            let (center, scale) = fitted.scaler.stats(&raw.id)?;
            let mase_scale: Vec<f64> = (0..v)
                .map(|k| naive_mae(&raw.values[k][..c], req.plan.season))
                .collect();
            let units: Vec<f64> = match &fitted.intervals {
                Some(stats) => {
                    let vol = batch_vol.as_ref().map(|bv| &bv[b * v..(b + 1) * v]);
                    stats.units(scale, vol).into_iter().map(f64::from).collect()
                }
                None => vec![1.0; v],
            };
            for t in 0..h {
                let mut acc = StepAccumulator::default();
                for k in 0..v {
                    let i = t * v + k;
                    let j = b * h * v + i;
                    if mask[j] <= 0.0 {
                        continue;
                    }
                    let (m, sc) = (f64::from(center[k]), f64::from(scale[k]));
                    let y = f64::from(actual[j]) * sc + m;
                    let yhat = f64::from(forecast[j]) * sc + m;
                    acc.add(y, yhat, mase_scale[k]);
                    if let Some(o) = &offsets {
                        acc.pinball += o.score(i, y - yhat, units[k], &mut acc.inside);
                    }
                }
                out.push(acc.row(
                    cutoff,
                    raw.timestamps[c],
                    fitted_at,
                    &raw.id,
                    t + 1,
                    offsets.is_some(),
                ));
            }
        }
    }
    Ok(out)
}

/// Mean absolute `season`-step difference of the observed values of `history` (`NaN` when
/// none).
fn naive_mae(history: &[f32], season: usize) -> f64 {
    let (sum, n) = history
        .iter()
        .zip(history.iter().skip(season))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .fold((0f64, 0usize), |(s, n), (a, b)| {
            (s + f64::from(b - a).abs(), n + 1)
        });
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Sums over the variates of one step.
#[derive(Debug, Default)]
struct StepAccumulator {
    n: usize,
    se: f64,
    ae: f64,
    smape: (f64, usize),
    mase: (f64, usize),
    inside: [usize; 3],
    pinball: f64,
    abs_y: f64,
}

impl StepAccumulator {
    fn add(&mut self, y: f64, yhat: f64, mase_scale: f64) {
        let e = y - yhat;
        self.n += 1;
        self.se += e * e;
        self.ae += e.abs();
        self.abs_y += y.abs();
        let denominator = y.abs() + yhat.abs();
        if denominator > 0.0 {
            self.smape.0 += 200.0 * e.abs() / denominator;
            self.smape.1 += 1;
        }
        if mase_scale.is_finite() && mase_scale > 0.0 {
            self.mase.0 += e.abs() / mase_scale;
            self.mase.1 += 1;
        }
    }

    fn row(
        &self,
        cutoff: usize,
        cutoff_time: i64,
        fitted_at: usize,
        series: &str,
        step: usize,
        intervals: bool,
    ) -> BacktestRow {
        let n = self.n.max(1) as f64;
        let mean = |(s, k): (f64, usize)| if k == 0 { f64::NAN } else { s / k as f64 };
        BacktestRow {
            cutoff,
            cutoff_time,
            fitted_at,
            series: series.to_string(),
            step,
            observed: self.n,
            mse: self.se / n,
            mae: self.ae / n,
            smape: mean(self.smape),
            mase: mean(self.mase),
            coverage: if intervals {
                std::array::from_fn(|k| self.inside[k] as f64 / n)
            } else {
                [f64::NAN; 3]
            },
            wql: if intervals {
                2.0 * self.pinball / WQL_LEVELS.len() as f64 / self.abs_y
            } else {
                f64::NAN
            },
            pinball_sum: if intervals { self.pinball } else { f64::NAN },
            abs_actual_sum: self.abs_y,
        }
    }
}

mod output;
pub use output::write_rows;

#[cfg(test)]
mod tests;
