//! Checks of one live point (a row of one series arriving on a stream) against what the series
//! already holds, before anything is computed from it. The streaming monitor and the live
//! forecasts apply the same rules, so a point refused by one is refused by the other with the
//! same field and reason.
//!
//! The rules: a series id of 1 to `max_id_bytes` bytes (UTF-8); one value per variate, each
//! finite, fitting `f32` and lying within [`MAX_SCALED_MAGNITUDE`] training standard deviations
//! once scaled; a timestamp after the series' previous one and, where the model has a sampling
//! period, a whole number of periods after the series' first point.
use crate::Frequency;

/// Largest accepted magnitude of a scaled value (in the model's training standard deviations).
/// Anything farther is no measurement a model can use: its squared residuals and its forecasts
/// overflow `f32` into infinities.
pub const MAX_SCALED_MAGNITUDE: f32 = 1e12;

/// Why a point was refused: the offending request field (`series_id`, `values`, `values[i]`,
/// `timestamp`) and a reason that quotes only what the client sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid argument `{field}`: {reason}")]
pub struct PointRefusal {
    /// The offending field.
    pub field: String,
    /// Why it is invalid.
    pub reason: String,
}

fn refuse(field: impl Into<String>, reason: impl Into<String>) -> PointRefusal {
    PointRefusal {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A series id of 1 to `max_bytes` bytes.
///
/// # Errors
/// [`PointRefusal`] on `series_id`.
pub fn check_series_id(id: &str, max_bytes: usize) -> Result<(), PointRefusal> {
    if id.is_empty() {
        return Err(refuse("series_id", "must not be empty"));
    }
    if id.len() > max_bytes {
        return Err(refuse(
            "series_id",
            format!("{} bytes long; at most {max_bytes} are allowed", id.len()),
        ));
    }
    Ok(())
}

/// What a series knows when its next point arrives.
#[derive(Debug, Clone, Copy)]
pub struct SeriesSoFar<'a> {
    /// Series id (for messages).
    pub id: &'a str,
    /// Variate names, in the model's column order.
    pub columns: &'a [String],
    /// Per-variate scaler centre and scale (`scaled = (raw − center) / scale`).
    pub center: &'a [f32],
    /// See `center`.
    pub scale: &'a [f32],
    /// The model's sampling period, if it has one.
    pub frequency: Option<Frequency>,
    /// Timestamp of the series' first point (the origin of its grid).
    pub origin: i64,
    /// Timestamp of its previous point, if any.
    pub last: Option<i64>,
}

/// Check a point's `values` and `timestamp` against its series and return the values as `f32`
/// (raw, unscaled).
///
/// # Errors
/// [`PointRefusal`] naming `values`, `values[i]` or `timestamp`.
pub fn check_point(
    series: &SeriesSoFar<'_>,
    timestamp: i64,
    values: &[f64],
) -> Result<Vec<f32>, PointRefusal> {
    let nv = series.columns.len();
    if values.len() != nv {
        return Err(refuse(
            "values",
            format!(
                "{} values, the model has {nv} variates ({})",
                values.len(),
                series.columns.join(", ")
            ),
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(refuse(
            format!("values[{i}]"),
            format!("{} ({}) is not finite", values[i], series.columns[i]),
        ));
    }
    if let Some(last) = series.last
        && timestamp <= last
    {
        return Err(refuse(
            "timestamp",
            format!(
                "{timestamp} is not after the previous point of series `{}` ({last}); timestamps \
                 must be strictly increasing",
                series.id
            ),
        ));
    }
    if let Some(period) = series.frequency
        && period.steps_between(series.origin, timestamp).is_none()
    {
        return Err(refuse(
            "timestamp",
            format!(
                "{timestamp} is not on the model's {period} grid: series `{}` started at {}, so its \
                 points must be a whole number of periods after it",
                series.id, series.origin
            ),
        ));
    }
    #[allow(clippy::cast_possible_truncation)]
    let raw: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    for (i, (r, (c, sc))) in raw.iter().zip(series.center.iter().zip(series.scale)).enumerate() {
        let scaled = (r - c) / sc;
        if !r.is_finite() || scaled.is_nan() || scaled.abs() > MAX_SCALED_MAGNITUDE {
            return Err(refuse(
                format!("values[{i}]"),
                format!(
                    "{} ({}) is too large: it lies more than {MAX_SCALED_MAGNITUDE:e} training \
                     standard deviations from the mean",
                    values[i], series.columns[i]
                ),
            ));
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series<'a>(columns: &'a [String], last: Option<i64>) -> SeriesSoFar<'a> {
        SeriesSoFar {
            id: "s",
            columns,
            center: &[0.0, 10.0],
            scale: &[1.0, 2.0],
            frequency: Some(Frequency::from_micros(60)),
            origin: 0,
            last,
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        let cols = vec!["a".to_string(), "b".to_string()];
        let s = series(&cols, Some(60));
        assert_eq!(check_point(&s, 120, &[1.0, 12.0]), Ok(vec![1.0, 12.0]));
        let field = |r: Result<Vec<f32>, PointRefusal>| r.unwrap_err().field;
        assert_eq!(field(check_point(&s, 120, &[1.0])), "values");
        assert_eq!(field(check_point(&s, 120, &[1.0, f64::NAN])), "values[1]");
        assert_eq!(field(check_point(&s, 120, &[f64::INFINITY, 1.0])), "values[0]");
        assert_eq!(field(check_point(&s, 120, &[1e300, 1.0])), "values[0]");
        assert_eq!(field(check_point(&s, 120, &[1.0, 3e12])), "values[1]");
        assert_eq!(field(check_point(&s, 60, &[1.0, 1.0])), "timestamp");
        assert_eq!(field(check_point(&s, 150, &[1.0, 1.0])), "timestamp");
        assert_eq!(check_series_id("", 4).unwrap_err().field, "series_id");
        assert!(check_series_id("abcd", 4).is_ok());
        assert!(check_series_id("abcde", 4).is_err());
    }
}
