//! The in-memory, validated form of a dataset: several series sharing one set of variate
//! columns, each on a regular time grid.
use chrono::{DateTime, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};

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

/// Sampling period of a regular series, in microseconds (always > 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Frequency {
    /// Period in microseconds.
    pub micros: i64,
}

impl Frequency {
    /// A period of `micros` microseconds. Panics if `micros <= 0` (programmer error).
    pub fn from_micros(micros: i64) -> Self {
        assert!(micros > 0, "frequency must be positive, got {micros}us");
        Self { micros }
    }

    /// A period of `minutes` minutes.
    pub fn minutes(minutes: i64) -> Self {
        Self::from_micros(minutes * 60_000_000)
    }

    /// The period as a chrono duration.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::microseconds(self.micros)
    }

    /// Parse `15min`, `1h`, `30s`, `1d`, `1w`, `500ms`, `250us`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit())?;
        let (num, unit) = s.split_at(split);
        let n: i64 = if num.is_empty() { 1 } else { num.parse().ok()? };
        let unit_us: i64 = match unit {
            "us" => 1,
            "ms" => 1_000,
            "s" => 1_000_000,
            "min" | "m" | "T" => 60_000_000,
            "h" | "H" => 3_600_000_000,
            "d" | "D" => 86_400_000_000,
            "w" | "W" => 7 * 86_400_000_000,
            _ => return None,
        };
        (n > 0).then(|| Self::from_micros(n * unit_us))
    }
}

impl std::fmt::Display for Frequency {
    /// The largest unit that divides the period exactly: `1w`, `1d`, `1h`, `15min`, `30s`, `5ms`, `7us`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const UNITS: [(i64, &str); 7] = [
            (7 * 86_400_000_000, "w"),
            (86_400_000_000, "d"),
            (3_600_000_000, "h"),
            (60_000_000, "min"),
            (1_000_000, "s"),
            (1_000, "ms"),
            (1, "us"),
        ];
        let (unit, name) = UNITS
            .iter()
            .find(|(u, _)| self.micros % u == 0)
            .copied()
            .unwrap_or((1, "us"));
        write!(f, "{}{}", self.micros / unit, name)
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
    fn frequency_parse_and_display_round_trip() {
        for s in ["1h", "15min", "30s", "1d", "1w", "500ms", "7us", "10min"] {
            assert_eq!(Frequency::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Frequency::parse("60min").unwrap().to_string(), "1h");
        assert!(Frequency::parse("0h").is_none());
        assert!(Frequency::parse("3 parsecs").is_none());
    }

    #[test]
    fn micros_round_trip() {
        let t = NaiveDateTime::parse_from_str("2016-07-01 00:15:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(from_micros(to_micros(t)), Some(t));
        assert_eq!(format_micros(to_micros(t)), "2016-07-01 00:15:00");
    }
}
