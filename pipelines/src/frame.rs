//! The in-memory, validated form of a dataset: several series sharing one set of variate
//! columns, each on a regular time grid.
use chrono::{DateTime, NaiveDateTime};

pub use crate::frequency::{Frequency, FrequencyError};

/// Microseconds since 1970-01-01T00:00 of a naive (wall-clock) timestamp.
pub type Micros = i64;

/// Convert a naive timestamp to [`Micros`].
pub fn to_micros(t: NaiveDateTime) -> Micros {
    t.and_utc().timestamp_micros()
}

/// Convert [`Micros`] back to a naive timestamp (`None` if out of chrono's range).
pub fn from_micros(us: Micros) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(us).map(|d| d.naive_utc())
}

/// Format [`Micros`] as `YYYY-MM-DD HH:MM:SS[.ffffff]` for error messages and CSV output.
pub fn format_micros(us: Micros) -> String {
    match from_micros(us) {
        Some(t) if t.and_utc().timestamp_subsec_micros() == 0 => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        None => format!("{us}us"),
    }
}

/// One series: a strictly increasing time axis and the values of every variate on it.
///
/// Invariants (established by `validate`): `timestamps` strictly increasing and, once a
/// frequency is known, on a regular grid; `values.len()` = number of frame columns and
/// `values[c].len() == timestamps.len()`; `labels`, when present, has the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Series identifier (`unique_id` in long files; the file stem for single-series files).
    pub id: String,
    /// Timestamps, [time], microseconds (see [`Micros`]).
    pub timestamps: Vec<Micros>,
    /// Values, [variates][time]. `NaN` = missing (only under the `mask` policy).
    pub values: Vec<Vec<f32>>,
    /// Optional 0/1 anomaly labels, [time].
    pub labels: Option<Vec<u8>>,
}

impl Series {
    /// Number of time steps.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// True when the series has no time steps.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Number of variates.
    pub fn n_variates(&self) -> usize {
        self.values.len()
    }

    /// Row `t` across variates, [variates].
    pub fn row(&self, t: usize) -> Vec<f32> {
        self.values.iter().map(|col| col[t]).collect()
    }

    /// A copy of rows `range` (same id; labels kept when present).
    ///
    /// # Panics
    /// When `range` is not within `0..len()`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Series {
        Series {
            id: self.id.clone(),
            timestamps: self.timestamps[range.clone()].to_vec(),
            values: self.values.iter().map(|c| c[range.clone()].to_vec()).collect(),
            labels: self.labels.as_ref().map(|l| l[range].to_vec()),
        }
    }
}

/// A dataset: series that share the same variate columns and frequency.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeFrame {
    /// Variate (value column) names, in model input order.
    pub columns: Vec<String>,
    /// The series, in file order of first appearance.
    pub series: Vec<Series>,
    /// Sampling period, when known (inferred or given).
    pub frequency: Option<Frequency>,
}

impl TimeFrame {
    /// Number of variates.
    pub fn n_variates(&self) -> usize {
        self.columns.len()
    }

    /// Total number of rows over all series.
    pub fn n_rows(&self) -> usize {
        self.series.iter().map(Series::len).sum()
    }

    /// The series with this id.
    pub fn get(&self, id: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let t = NaiveDateTime::parse_from_str("2016-07-01 00:15:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(from_micros(to_micros(t)), Some(t));
        assert_eq!(format_micros(to_micros(t)), "2016-07-01 00:15:00");
    }
}
