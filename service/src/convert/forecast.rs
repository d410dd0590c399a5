//! `statecast.v1.ForecastService` messages ↔ [`crate::forecast`] types.
use statecast_proto::v1 as pb;

use crate::forecast::live::{LiveAnswer, LiveMode, LiveOptions};
use crate::forecast::{ForecastOptions, SeriesForecast, SeriesInput};
use crate::registry::{ModelRef, VersionInfo};
use crate::{Error, Result};

/// The parts of a forecast request.
///
/// # Errors
/// [`Error::InvalidArgument`] for a missing model reference or a series without a values
/// matrix (naming `series[i].values`).
pub fn request(req: pb::ForecastRequest) -> Result<(ModelRef, Vec<SeriesInput>, ForecastOptions)> {
    let pb::ForecastRequest {
        model,
        series,
        horizon,
        quantiles,
        levels,
    } = req;
    let model = super::registry::model_ref("model", model)?;
    let series = series
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let pb::SeriesInput {
                series_id,
                timestamps,
                values,
            } = s;
            let pb::Matrix { rows, cols, values } = values.ok_or_else(|| Error::InvalidArgument {
                field: format!("series[{i}].values"),
                reason: "the values matrix is missing".into(),
            })?;
            Ok(SeriesInput {
                id: series_id,
                timestamps,
                rows: rows as usize,
                cols: cols as usize,
                values,
            })
        })
        .collect::<Result<_>>()?;
    let options = ForecastOptions {
        horizon: (horizon > 0).then_some(horizon as usize),
        quantiles,
        levels,
    };
    Ok((model, series, options))
}

/// The model version that answered.
pub fn resolved(info: &VersionInfo) -> pb::ResolvedModel {
    pb::ResolvedModel {
        name: info.name.clone(),
        version: info.version,
        columns: info.columns.clone(),
        interval_method: info
            .intervals
            .as_ref()
            .map(|i| i.method.clone())
            .unwrap_or_default(),
    }
}

fn matrix(values: Vec<f32>, cols: usize) -> pb::Matrix {
    pb::Matrix {
        rows: values.len().checked_div(cols).unwrap_or_default() as u32,
        cols: cols as u32,
        values,
    }
}

impl From<SeriesForecast> for pb::SeriesForecast {
    fn from(f: SeriesForecast) -> Self {
        let SeriesForecast {
            id,
            timestamps,
            variates,
            point,
            quantiles,
        } = f;
        pb::SeriesForecast {
            series_id: id,
            timestamps,
            point: Some(matrix(point, variates)),
            quantiles: quantiles
                .into_iter()
                .map(|(quantile, values)| pb::QuantileForecast {
                    quantile,
                    values: Some(matrix(values, variates)),
                })
                .collect(),
        }
    }
}

/// What a live point asks for besides its values: horizon, quantiles, levels and mode.
///
/// # Errors
/// [`Error::InvalidArgument`] on `mode` for a value the API does not define.
pub fn live_options(req: &pb::StreamForecastRequest) -> Result<LiveOptions> {
    let mode = match pb::LiveForecastMode::try_from(req.mode) {
        Ok(pb::LiveForecastMode::Unspecified) => None,
        Ok(pb::LiveForecastMode::Recurrent) => Some(LiveMode::Recurrent),
        Ok(pb::LiveForecastMode::Window) => Some(LiveMode::Window),
        Err(_) => {
            return Err(Error::InvalidArgument {
                field: "mode".into(),
                reason: format!("{} is not a LiveForecastMode", req.mode),
            });
        }
    };
    Ok(LiveOptions {
        forecast: ForecastOptions {
            horizon: (req.horizon > 0).then_some(req.horizon as usize),
            quantiles: req.quantiles.clone(),
            levels: req.levels.clone(),
        },
        mode,
    })
}

impl From<LiveAnswer> for pb::StreamForecastResponse {
    fn from(a: LiveAnswer) -> Self {
        Self {
            series_id: a.series_id,
            timestamp: a.timestamp,
            model: a.model,
            warming_up: a.forecast.is_none(),
            forecast: a.forecast.map(Into::into),
            exact: a.exact,
        }
    }
}
