//! Forecast requests and their validation against a model version (no burn).

use statecast_pipelines::Frequency;

use crate::registry::VersionInfo;
use crate::{Error, Result};

/// Series forecast in one model call at most (larger requests are split into batches).
pub const MAX_BATCH: usize = 256;

/// Largest accepted magnitude of a look-back value once scaled by the model's training
/// statistics (in training standard deviations): farther values are no measurement the model can
/// extrapolate from, and their forecasts and quantiles overflow `f32` into infinities.
pub use statecast_pipelines::live::MAX_SCALED_MAGNITUDE;

/// Quantiles one request may ask for, counting each interval level as its two quantiles and
/// counting duplicates (so the bound holds before any deduplication work).
pub const MAX_QUANTILES: usize = 100;

/// The recent history of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInput {
    /// Series id (echoed; used by per-series scalers).
    pub id: String,
    /// Observation times, unix microseconds, one per row.
    pub timestamps: Vec<i64>,
    /// Rows of `values`.
    pub rows: usize,
    /// Columns (variates) of `values`.
    pub cols: usize,
    /// Observations [rows × cols], row-major, original units.
    pub values: Vec<f32>,
}

/// What to forecast, besides the series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForecastOptions {
    /// Steps; `None` (or 0 on the wire) means the model's horizon.
    pub horizon: Option<usize>,
    /// Quantiles as fractions in (0, 1).
    pub quantiles: Vec<f64>,
    /// Central interval levels in percent in (0, 100).
    pub levels: Vec<f64>,
}

/// A request that passed [`validate`]: every series has at least the model's look-back of
/// finite rows on the model's grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest {
    /// The series.
    pub series: Vec<SeriesInput>,
    /// Steps to return (≤ the model's horizon).
    pub horizon: usize,
    /// Quantiles, ascending, deduplicated.
    pub quantiles: Vec<f64>,
    /// Sampling period of the forecast timestamps.
    pub frequency: Frequency,
}

/// The forecast of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesForecast {
    /// Series id.
    pub id: String,
    /// Forecast times: last input time + k·frequency, k = 1..=horizon.
    pub timestamps: Vec<i64>,
    /// Variates.
    pub variates: usize,
    /// Point forecast [horizon × variates], original units.
    pub point: Vec<f32>,
    /// (quantile, [horizon × variates]) pairs, ascending by quantile.
    pub quantiles: Vec<(f64, Vec<f32>)>,
}

/// Why two consecutive timestamps are refused when their difference overflows.
fn too_far_apart(row: usize) -> String {
    format!(
        "rows {row} and {} are too far apart (their difference does not fit in i64 microseconds)",
        row + 1
    )
}

pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Check what a request asks for besides its series: the horizon (`None` or 0: the model's) and
/// the quantiles, levels turned into their two quantiles; returns the horizon and the
/// quantiles, ascending and deduplicated.
///
/// # Errors
/// [`Error::InvalidArgument`] for a horizon above the model's, a quantile outside (0, 1), a
/// level outside (0, 100), more than [`MAX_QUANTILES`] quantiles (levels counting two);
/// [`Error::FailedPrecondition`] when quantiles are asked of a version without residual
/// statistics.
pub fn validate_options(info: &VersionInfo, options: &ForecastOptions) -> Result<(usize, Vec<f64>)> {
    let asked = options
        .quantiles
        .len()
        .saturating_add(options.levels.len().saturating_mul(2));
    if asked > MAX_QUANTILES {
        return Err(invalid(
            "quantiles",
            format!(
                "{} quantiles and {} levels ask for {asked} quantiles (a level is two); at most {MAX_QUANTILES} are allowed",
                options.quantiles.len(),
                options.levels.len()
            ),
        ));
    }
    let horizon = match options.horizon {
        None | Some(0) => info.horizon,
        Some(h) if h > info.horizon => {
            return Err(invalid(
                "horizon",
                format!(
                    "{h} is larger than the model's horizon {} (model `{}` version {})",
                    info.horizon, info.name, info.version
                ),
            ));
        }
        Some(h) => h,
    };
    let mut quantiles = Vec::new();
    for (i, &q) in options.quantiles.iter().enumerate() {
        if !(q > 0.0 && q < 1.0) {
            return Err(invalid(
                format!("quantiles[{i}]"),
                format!("{q} is not a fraction in (0, 1)"),
            ));
        }
        quantiles.push(q);
    }
    for (i, &level) in options.levels.iter().enumerate() {
        if !(level > 0.0 && level < 100.0) {
            return Err(invalid(
                format!("levels[{i}]"),
                format!("{level} is not a percentage in (0, 100)"),
            ));
        }
        // (100 − level) / 200 keeps round levels round: 80 → 0.1 and 0.9 exactly.
        let tail = (100.0 - level) / 200.0;
        quantiles.extend([tail, (100.0 + level) / 200.0]);
    }
    quantiles.sort_by(f64::total_cmp);
    quantiles.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    if !quantiles.is_empty() && info.intervals.is_none() {
        return Err(Error::FailedPrecondition {
            reason: format!(
                "model `{}` version {} has no validation residual statistics, so it gives point forecasts only; retrain it with a validation split to get quantiles",
                info.name, info.version
            ),
        });
    }
    Ok((horizon, quantiles))
}

/// Check a request against the model version it names, without touching burn.
///
/// # Errors
/// [`Error::InvalidArgument`] naming the field: no series, a horizon above the model's, a
/// quantile outside (0, 1), a level outside (0, 100), a values matrix whose size is not
/// rows × cols, a wrong variate count, fewer rows than the look-back, a timestamp count that
/// differs from the rows, NaN/∞ values, timestamps not strictly increasing or off the
/// model's frequency grid, more than [`MAX_QUANTILES`] quantiles (levels counting two).
/// [`Error::FailedPrecondition`] when quantiles are asked of a version without residual
/// statistics.
pub fn validate(
    info: &VersionInfo,
    series: Vec<SeriesInput>,
    options: &ForecastOptions,
) -> Result<ValidRequest> {
    if series.is_empty() {
        return Err(invalid("series", "at least one series is required"));
    }
    let (horizon, quantiles) = validate_options(info, options)?;
    let model_freq = info.frequency.as_deref().and_then(|f| Frequency::parse(f).ok());
    let (l, v) = (info.lookback, info.columns.len());
    let mut frequency = model_freq;
    for (i, s) in series.iter().enumerate() {
        let field = |f: &str| format!("series[{i}].{f}");
        if s.values.len() != s.rows * s.cols {
            return Err(invalid(
                field("values"),
                format!(
                    "{} values are not rows × cols = {} × {}",
                    s.values.len(),
                    s.rows,
                    s.cols
                ),
            ));
        }
        if s.cols != v {
            return Err(invalid(
                field("values"),
                format!(
                    "wrong variate count (expected {v}, got {}): the model reads {}",
                    s.cols,
                    info.columns.join(",")
                ),
            ));
        }
        if s.rows < l {
            return Err(invalid(
                field("values"),
                format!(
                    "context shorter than the model's look-back (needs {l}, got {})",
                    s.rows
                ),
            ));
        }
        if s.timestamps.len() != s.rows {
            return Err(invalid(
                field("timestamps"),
                format!("{} timestamps for {} rows", s.timestamps.len(), s.rows),
            ));
        }
        if let Some(k) = s.values.iter().position(|x| !x.is_finite()) {
            let what = if s.values[k].is_nan() { "NaN" } else { "infinity" };
            return Err(invalid(
                field("values"),
                format!("{what} at row {}, column {}", k / v, k % v),
            ));
        }
        let step = match frequency {
            Some(f) => f.micros,
            None => {
                let d = if s.rows >= 2 {
                    s.timestamps[s.rows - 1]
                        .checked_sub(s.timestamps[s.rows - 2])
                        .ok_or_else(|| invalid(field("timestamps"), too_far_apart(s.rows - 2)))?
                } else {
                    0
                };
                if d <= 0 {
                    return Err(invalid(
                        field("timestamps"),
                        "timestamps must be strictly increasing",
                    ));
                }
                frequency = Some(Frequency::from_micros(d));
                d
            }
        };
        for (t, w) in s.timestamps.windows(2).enumerate() {
            let d = w[1]
                .checked_sub(w[0])
                .ok_or_else(|| invalid(field("timestamps"), too_far_apart(t)))?;
            if d <= 0 {
                return Err(invalid(
                    field("timestamps"),
                    format!("not strictly increasing at row {}", t + 1),
                ));
            }
            if d != step {
                return Err(invalid(
                    field("timestamps"),
                    format!(
                        "rows {t} and {} are {d} µs apart, not one model period ({}) — fill gaps before forecasting",
                        t + 1,
                        Frequency::from_micros(step)
                    ),
                ));
            }
        }
        let last = s.timestamps.last().copied().unwrap_or(0);
        let period = Frequency::from_micros(step);
        if period.checked_offset(last, horizon as i64).is_none() {
            return Err(invalid(
                field("timestamps"),
                format!(
                    "the forecast times (last timestamp {last} µs + {horizon} × {period}) do not fit in i64 microseconds"
                ),
            ));
        }
    }
    let frequency = frequency.ok_or_else(|| {
        invalid(
            "series",
            "the model has no frequency and a series of one row does not give one",
        )
    })?;
    Ok(ValidRequest {
        series,
        horizon,
        quantiles,
        frequency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(intervals: bool) -> VersionInfo {
        VersionInfo {
            name: "m".into(),
            version: 1,
            kind: "Linear".into(),
            columns: vec!["a".into(), "b".into()],
            frequency: Some("1h".into()),
            lookback: 4,
            horizon: 3,
            created_at: chrono::Utc::now(),
            registered_at: chrono::Utc::now(),
            labels: vec![],
            metrics: Default::default(),
            intervals: intervals.then(|| crate::forecast::intervals::IntervalStats {
                method: "x".into(),
                horizon: 3,
                variates: 2,
                sigma: vec![1.0; 6],
                grid: None,
            }),
            content_hash: None,
        }
    }

    fn series(rows: usize) -> SeriesInput {
        SeriesInput {
            id: "s".into(),
            timestamps: (0..rows as i64).map(|t| t * 3_600_000_000).collect(),
            rows,
            cols: 2,
            values: vec![1.0; rows * 2],
        }
    }

    fn field_of(err: Error) -> String {
        if let Error::InvalidArgument { field, .. } = err {
            field
        } else {
            panic!("expected InvalidArgument, got {err}")
        }
    }

    #[test]
    fn valid_requests_merge_quantiles_and_levels() {
        let options = ForecastOptions {
            horizon: Some(2),
            quantiles: vec![0.9, 0.5],
            levels: vec![80.0],
        };
        let v = validate(&info(true), vec![series(6)], &options).unwrap();
        assert_eq!(v.horizon, 2);
        assert_eq!(v.quantiles.len(), 3);
        assert!((v.quantiles[0] - 0.1).abs() < 1e-12 && v.quantiles[2] == 0.9);
        assert_eq!(v.frequency.micros, 3_600_000_000);
    }

    #[test]
    fn quantile_counts_are_capped_before_any_work() {
        let at = |quantiles: usize, levels: usize| ForecastOptions {
            horizon: None,
            quantiles: vec![0.5; quantiles],
            levels: vec![50.0; levels],
        };
        // Exactly the cap passes (duplicates are merged later); one more quantile is refused.
        let ok = validate(&info(true), vec![series(4)], &at(MAX_QUANTILES - 2, 1)).unwrap();
        assert_eq!(ok.quantiles.len(), 3);
        let err = validate(&info(true), vec![series(4)], &at(MAX_QUANTILES - 1, 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument `quantiles`: 99 quantiles and 1 levels ask for 101 quantiles (a level is two); at most 100 are allowed"
        );
        // 100 000 quantiles (the review's request) are refused by the count, not by parsing them.
        let err = validate(&info(true), vec![series(4)], &at(100_000, 0)).unwrap_err();
        assert_eq!(field_of(err), "quantiles");
    }

    #[test]
    fn timestamps_near_the_end_of_time_are_refused_not_wrapped() {
        let ok = ForecastOptions::default();
        let hour = 3_600_000_000;
        // On the model's grid, but the 3-step forecast would pass i64::MAX.
        let mut late = series(4);
        late.timestamps = (0..4).map(|k| i64::MAX - (4 - k) * hour).collect();
        let err = validate(&info(true), vec![late], &ok).unwrap_err();
        assert!(
            err.to_string().contains("do not fit in i64 microseconds"),
            "{err}"
        );
        assert_eq!(field_of(err), "series[0].timestamps");
        // Consecutive timestamps whose difference overflows.
        let mut apart = series(4);
        apart.timestamps = vec![i64::MIN, 0, hour, 2 * hour];
        let err = validate(&info(true), vec![apart], &ok).unwrap_err();
        assert!(
            err.to_string().contains("rows 0 and 1 are too far apart"),
            "{err}"
        );
        assert_eq!(field_of(err), "series[0].timestamps");
    }

    #[test]
    fn each_problem_names_its_field() {
        let ok = ForecastOptions::default();
        let check =
            |s: Vec<SeriesInput>, o: &ForecastOptions| field_of(validate(&info(true), s, o).unwrap_err());
        assert_eq!(check(vec![], &ok), "series");
        let mut nan = series(5);
        nan.values[7] = f32::NAN;
        let err = validate(&info(true), vec![series(4), nan], &ok).unwrap_err();
        assert!(err.to_string().contains("NaN at row 3"), "{err}");
        assert_eq!(field_of(err), "series[1].values");
        let mut wide = series(4);
        (wide.cols, wide.values) = (3, vec![0.0; 12]);
        assert_eq!(check(vec![wide], &ok), "series[0].values");
        assert_eq!(check(vec![series(3)], &ok), "series[0].values");
        let mut ts = series(5);
        ts.timestamps.pop();
        assert_eq!(check(vec![ts], &ok), "series[0].timestamps");
        let mut off_grid = series(5);
        off_grid.timestamps[4] += 1;
        assert_eq!(check(vec![off_grid], &ok), "series[0].timestamps");
        let mut back = series(5);
        back.timestamps.swap(1, 2);
        assert_eq!(check(vec![back], &ok), "series[0].timestamps");
        let long = ForecastOptions {
            horizon: Some(4),
            ..Default::default()
        };
        assert_eq!(check(vec![series(4)], &long), "horizon");
        for (quantiles, levels, field) in [
            (vec![0.0], vec![], "quantiles[0]"),
            (vec![0.5, 1.0], vec![], "quantiles[1]"),
            (vec![f64::NAN], vec![], "quantiles[0]"),
            (vec![], vec![100.0], "levels[0]"),
        ] {
            let o = ForecastOptions {
                horizon: None,
                quantiles,
                levels,
            };
            assert_eq!(check(vec![series(4)], &o), field);
        }
        let q = ForecastOptions {
            quantiles: vec![0.5],
            ..Default::default()
        };
        assert!(matches!(
            validate(&info(false), vec![series(4)], &q).unwrap_err(),
            Error::FailedPrecondition { .. }
        ));
    }
}
