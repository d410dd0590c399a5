//! Running a validated request: scaling, one batched model call, unscaling, quantiles.
use std::sync::Arc;

use burn::prelude::*;
use statecast_models::forecaster::Forecaster;

use super::intervals::scaled_volatility;
use super::request::{
    ForecastOptions, MAX_BATCH, MAX_SCALED_MAGNITUDE, SeriesForecast, SeriesInput, ValidRequest, invalid,
    validate,
};
use super::size::{self, Delivery};
use crate::registry::{LoadedModel, ModelRef, Registry, VersionInfo};
use crate::{Error, Result};

/// A validated request with its model loaded, ready to run batch by batch.
#[derive(Debug)]
pub struct Prepared {
    /// The version that answers.
    pub info: VersionInfo,
    /// Its loaded model.
    pub loaded: Arc<LoadedModel>,
    /// The validated request.
    pub request: ValidRequest,
}

/// Resolve `model`, validate the series against it and bound the response size for
/// `delivery` by `max_message_bytes` (before loading anything), then load it.
///
/// # Errors
/// [`Error::ModelNotFound`] / [`Error::LabelNotFound`], the errors of [`validate`],
/// [`Error::ResourceExhausted`] when the response cannot fit ([`size::check`]), and
/// [`Error::FailedPrecondition`] when the stored artifact no longer loads.
pub fn prepare(
    registry: &Registry,
    model: &ModelRef,
    series: Vec<SeriesInput>,
    options: &ForecastOptions,
    max_message_bytes: usize,
    delivery: Delivery,
) -> Result<Prepared> {
    let info = registry.resolve(model)?;
    let request = validate(&info, series, options)?;
    size::check(&info, &request, max_message_bytes, delivery)?;
    let loaded = registry.load(&info)?;
    Ok(Prepared {
        info,
        loaded,
        request,
    })
}

impl Prepared {
    /// Forecast `series[range]` (see [`run`]).
    ///
    /// # Errors
    /// As [`run`].
    pub fn run(&self, range: std::ops::Range<usize>) -> Result<Vec<SeriesForecast>> {
        run(&self.loaded, &self.info, &self.request, range)
    }

    /// Forecast every series, in batches of at most [`MAX_BATCH`].
    ///
    /// # Errors
    /// As [`run`].
    pub fn run_all(&self) -> Result<Vec<SeriesForecast>> {
        let mut out = Vec::with_capacity(self.request.series.len());
        for range in batches(self.request.series.len()) {
            out.extend(self.run(range)?);
        }
        Ok(out)
    }
}

/// Forecast `request.series[range]` in one model call: scale the last look-back rows with the
/// artifact's scaler, run the model, unscale, add quantiles. Blocking (burn); call it from
/// `spawn_blocking` in async code.
///
/// # Errors
/// [`Error::InvalidArgument`] (`series[i].series_id`) when a per-series scaler does not know a
/// series, (`series[i].values`) when a scaled input lies beyond [`MAX_SCALED_MAGNITUDE`] or the forecast is not
/// finite (inputs far outside what the model was trained on: a non-finite number is never
/// returned); [`Error::Internal`] when the model output has an unexpected size.
pub fn run(
    loaded: &LoadedModel,
    info: &VersionInfo,
    request: &ValidRequest,
    range: std::ops::Range<usize>,
) -> Result<Vec<SeriesForecast>> {
    let (l, v, h_model) = (info.lookback, info.columns.len(), loaded.model.horizon());
    let batch = &request.series[range.clone()];
    let windows: Vec<(&str, &[f32])> = batch
        .iter()
        .map(|s| (s.id.as_str(), &s.values[(s.rows - l) * v..]))
        .collect();
    let y = forecast_windows(loaded, info, &windows, |i| {
        (Fields::of_series(range.start + i), batch[i].rows - l)
    })?;
    let h = request.horizon;
    batch
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let fields = Fields::of_series(range.start + i);
            let window = &s.values[(s.rows - l) * v..s.rows * v];
            finish(
                loaded,
                info,
                &s.id,
                Volatility::Raw(window),
                &y[i * h_model * v..(i * h_model + h) * v],
                &request.quantiles,
                request.frequency,
                s.timestamps[s.rows - 1],
                &fields,
            )
        })
        .collect()
}

/// Where a forecast's look-back volatility comes from, for intervals that scale with it
/// ([`IntervalStats::needs_volatility`]); computed only when they do.
pub enum Volatility<'a> {
    /// The raw look-back window, `[L × V]`, original units.
    Raw(&'a [f32]),
    /// Computes the volatility on the scaled axis, `[V]`.
    Scaled(&'a dyn Fn() -> Vec<f32>),
}

impl std::fmt::Debug for Volatility<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Raw(w) => f.debug_tuple("Raw").field(&w.len()).finish(),
            Self::Scaled(_) => f.write_str("Scaled(..)"),
        }
    }
}

/// The request fields that [`finish`]'s errors name.
#[derive(Debug, Clone)]
pub struct Fields {
    /// The series id (per-series scalers).
    pub id: String,
    /// The values (a forecast that is not finite).
    pub values: String,
    /// The timestamps (forecast times that overflow).
    pub timestamps: String,
}

impl Fields {
    /// `series[i].series_id`, `series[i].values`, `series[i].timestamps`.
    pub fn of_series(i: usize) -> Self {
        Self {
            id: format!("series[{i}].series_id"),
            values: format!("series[{i}].values"),
            timestamps: format!("series[{i}].timestamps"),
        }
    }
}

/// One series' forecast from the model's scaled output `scaled_hv` ([horizon, variates], the
/// horizon already cut to the steps asked for): unscaled with the artifact's scaler, the
/// `quantiles` added from the loaded model's interval statistics, and dated `last + k ·
/// frequency`.
///
/// # Errors
/// [`Error::InvalidArgument`] on `fields.id` when a per-series scaler does not know the series,
/// on `fields.values` when the forecast or a quantile is not finite, on `fields.timestamps` when
/// a forecast time does not fit in `i64` microseconds.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    loaded: &LoadedModel,
    info: &VersionInfo,
    id: &str,
    volatility: Volatility<'_>,
    scaled_hv: &[f32],
    quantiles: &[f64],
    frequency: statecast_pipelines::Frequency,
    last: i64,
    fields: &Fields,
) -> Result<SeriesForecast> {
    let v = info.columns.len();
    let h = scaled_hv.len() / v.max(1);
    let mut point = scaled_hv.to_vec();
    loaded
        .artifact
        .scaler
        .inverse_rows(id, &mut point)
        .map_err(|e| invalid(fields.id.clone(), e.to_string()))?;
    let quantiles: Vec<(f64, Vec<f32>)> = match &loaded.intervals {
        Some(stats) if !quantiles.is_empty() => {
            let (_, scale) = loaded
                .artifact
                .scaler
                .stats(id)
                .map_err(|e| invalid(fields.id.clone(), e.to_string()))?;
            let vol = stats.needs_volatility().then(|| match volatility {
                Volatility::Raw(window) => scaled_volatility(window, scale),
                Volatility::Scaled(f) => f(),
            });
            let units = stats.units(scale, vol.as_deref());
            quantiles
                .iter()
                .map(|&q| (q, stats.quantile(&point, q, &units)))
                .collect()
        }
        _ => Vec::new(),
    };
    let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
    if !finite(&point) || !quantiles.iter().all(|(_, v)| finite(v)) {
        return Err(invalid(
            fields.values.clone(),
            "the forecast of these values is not finite in f32 (they lie far outside the range the model was trained on)",
        ));
    }
    let timestamps = (1..=h as i64)
        .map(|k| frequency.checked_offset(last, k))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            invalid(
                fields.timestamps.clone(),
                "the forecast times do not fit in i64 microseconds",
            )
        })?;
    Ok(SeriesForecast {
        id: id.to_string(),
        timestamps,
        variates: v,
        point,
        quantiles,
    })
}

/// The model's scaled forecasts of raw look-back `windows` (`(series id, [lookback, variates])`),
/// in one model call: [windows, model horizon, variates], row-major. Each window is scaled with
/// the artifact's scaler first; `fields(i)` names window `i`'s request fields and the row of its
/// first value in the request (for messages).
///
/// # Errors
/// [`Error::InvalidArgument`] on the id field when a per-series scaler does not know a series,
/// on the values field when a scaled input lies beyond [`MAX_SCALED_MAGNITUDE`];
/// [`Error::Internal`] when the model output has an unexpected size.
pub fn forecast_windows(
    loaded: &LoadedModel,
    info: &VersionInfo,
    windows: &[(&str, &[f32])],
    fields: impl Fn(usize) -> (Fields, usize),
) -> Result<Vec<f32>> {
    let scaler = &loaded.artifact.scaler;
    let (l, v, h_model) = (info.lookback, info.columns.len(), loaded.model.horizon());
    let b = windows.len();
    let mut x = Vec::with_capacity(b * l * v);
    for (i, (id, raw)) in windows.iter().enumerate() {
        let mut window = raw.to_vec();
        scaler
            .transform_rows(id, &mut window)
            .map_err(|e| invalid(fields(i).0.id, e.to_string()))?;
        if let Some(k) = window
            .iter()
            .position(|x| x.is_nan() || x.abs() > MAX_SCALED_MAGNITUDE)
        {
            let (f, first_row) = fields(i);
            return Err(invalid(
                f.values,
                format!(
                    "the value at row {}, column {} is too large for the model: it lies more than {MAX_SCALED_MAGNITUDE:e} training standard deviations from the mean",
                    first_row + k / v,
                    k % v
                ),
            ));
        }
        x.extend(window);
    }
    let x_blv = Tensor::<3>::from_data(TensorData::new(x, [b, l, v]), &loaded.device);
    let y = loaded
        .model
        .forecast(x_blv)
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::Internal(format!("reading the forecast: {e:?}")))?;
    if y.len() != b * h_model * v {
        return Err(Error::Internal(format!(
            "the model returned {} values for {b} × {h_model} × {v}",
            y.len()
        )));
    }
    Ok(y)
}

/// Batches of at most [`MAX_BATCH`] series covering `0..n`.
pub fn batches(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(MAX_BATCH).map(move |s| s..(s + MAX_BATCH).min(n))
}
