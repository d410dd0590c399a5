//! Running a validated request: scaling, one batched model call, unscaling, quantiles.
use std::sync::Arc;

use burn::prelude::*;
use statecast_models::forecaster::Forecaster;

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
    let scaler = &loaded.artifact.scaler;
    let (l, v, h_model) = (info.lookback, info.columns.len(), loaded.model.horizon());
    let batch = &request.series[range.clone()];
    let b = batch.len();
    let mut x = Vec::with_capacity(b * l * v);
    for (i, s) in batch.iter().enumerate() {
        let mut window = s.values[(s.rows - l) * v..].to_vec();
        scaler
            .transform_rows(&s.id, &mut window)
            .map_err(|e| invalid(format!("series[{}].series_id", range.start + i), e.to_string()))?;
        if let Some(k) = window
            .iter()
            .position(|x| x.is_nan() || x.abs() > MAX_SCALED_MAGNITUDE)
        {
            return Err(invalid(
                format!("series[{}].values", range.start + i),
                format!(
                    "the value at row {}, column {} is too large for the model: it lies more than {MAX_SCALED_MAGNITUDE:e} training standard deviations from the mean",
                    s.rows - l + k / v,
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
    let h = request.horizon;
    batch
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut point = y[i * h_model * v..(i * h_model + h) * v].to_vec();
            scaler
                .inverse_rows(&s.id, &mut point)
                .map_err(|e| invalid(format!("series[{}].series_id", range.start + i), e.to_string()))?;
            let quantiles: Vec<(f64, Vec<f32>)> = match &info.intervals {
                Some(stats) => request
                    .quantiles
                    .iter()
                    .map(|&q| (q, stats.quantile(&point, q)))
                    .collect(),
                None => Vec::new(),
            };
            let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
            if !finite(&point) || !quantiles.iter().all(|(_, v)| finite(v)) {
                return Err(invalid(
                    format!("series[{}].values", range.start + i),
                    "the forecast of these values is not finite in f32 (they lie far outside the range the model was trained on)",
                ));
            }
            let last = s.timestamps[s.rows - 1];
            // `validate` checked that `last + h · frequency` fits.
            let timestamps = (1..=h as i64)
                .map(|k| request.frequency.checked_offset(last, k))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    invalid(
                        format!("series[{}].timestamps", range.start + i),
                        "the forecast times do not fit in i64 microseconds",
                    )
                })?;
            Ok(SeriesForecast {
                id: s.id.clone(),
                timestamps,
                variates: v,
                point,
                quantiles,
            })
        })
        .collect()
}

/// Batches of at most [`MAX_BATCH`] series covering `0..n`.
pub fn batches(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(MAX_BATCH).map(move |s| s..(s + MAX_BATCH).min(n))
}
