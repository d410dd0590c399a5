//! [`SimConfig`]: what to simulate, with defaults and validation.
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::anomaly::AnomalyKind;
use crate::frame::Frequency;
use crate::{Error, Result};

/// One day in microseconds.
pub(crate) const DAY_MICROS: i64 = 86_400_000_000;

/// Fewest samples per day accepted, so that the daily cycle is resolved.
const MIN_ROWS_PER_DAY: i64 = 4;

/// Largest number of cells (`series * variates * length`) accepted, to fail early instead of
/// exhausting memory.
const MAX_CELLS: usize = 500_000_000;

/// Largest accepted `anomaly_rate` (segments per 1000 eligible rows).
const MAX_ANOMALY_RATE: f64 = 1000.0;

/// What to simulate. Every field has a default (see [`SimConfig::default`]), so a partial JSON
/// object deserialises; `frequency` accepts `"5min"`-style strings and `start` accepts
/// `"2024-01-01 00:00:00"`, `"2024-01-01T00:00:00"` or `"2024-01-01"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Number of series ("machines"), named `machine_01`, `machine_02`, … Default 3.
    pub series: usize,
    /// Number of variates (sensors) per series, at least 2 (see [`super::sensors`] for the
    /// names and couplings). Default 6.
    pub variates: usize,
    /// Rows per series. At least two days' worth of rows. Default 4032 (14 days at 5 min).
    pub length: usize,
    /// Sampling period, at most 6 hours. Default 5 min.
    #[serde(with = "freq_serde")]
    pub frequency: Frequency,
    /// Timestamp of row 0 (naive wall-clock time). Default 2024-01-01 00:00 (a Monday).
    #[serde(with = "start_serde")]
    pub start: NaiveDateTime,
    /// Seed of every random draw; the same seed and config give a bitwise identical
    /// [`super::Simulation`]. Default 42.
    pub seed: u64,
    /// Probability, per cell outside row 0 and outside anomaly segments, of being missing
    /// (`NaN`). In `[0, 1)`. Default 0.002.
    pub missing_rate: f64,
    /// Anomaly segments per 1000 rows *of the anomaly-eligible part* of each series (the rows
    /// after the clean prefix). Each series gets `round(anomaly_rate * eligible_rows / 1000)`
    /// segments. In `[0, 1000]`. Default 1.5 (3 segments per series with the defaults).
    pub anomaly_rate: f64,
    /// Kinds of anomaly to insert, without repeats; non-empty when `anomaly_rate > 0`. Kinds are
    /// dealt round-robin over all segments of all series (then shuffled), so every kind appears
    /// as soon as there are at least as many segments as kinds. Default: all six kinds.
    pub anomaly_kinds: Vec<AnomalyKind>,
    /// Fraction of each series, from its start, that is guaranteed anomaly-free so that models
    /// can train on clean data (label 0 throughout; missing values still occur). In `[0, 1)`.
    /// Default 0.5.
    pub train_fraction_clean: f64,
    /// Rows of the same machines that come before this file: the machines (their parameters and
    /// clean signal) are those of `seed`, continued from row `offset`, with timestamps that
    /// continue too; anomalies and missing values are drawn afresh for this stretch. 0 (the
    /// default) starts at the beginning. `seed 42, length 8064` followed by `seed 42, offset
    /// 8064` is the next stretch of the same fleet's life.
    pub offset: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            series: 3,
            variates: 6,
            length: 4032,
            frequency: Frequency::minutes(5),
            start: NaiveDate::from_ymd_opt(2024, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .unwrap_or_default(),
            seed: 42,
            missing_rate: 0.002,
            anomaly_rate: 1.5,
            anomaly_kinds: AnomalyKind::ALL.to_vec(),
            train_fraction_clean: 0.5,
            offset: 0,
        }
    }
}

impl SimConfig {
    /// Samples per day (`1 day / frequency`; not necessarily a whole number).
    pub fn rows_per_day(&self) -> f64 {
        DAY_MICROS as f64 / self.frequency.micros as f64
    }

    /// Rows in the clean prefix of each series: `floor(train_fraction_clean * length)`.
    /// Anomaly segments start at or after this row (and never at row 0).
    pub fn clean_rows(&self) -> usize {
        ((self.train_fraction_clean * self.length as f64).floor() as usize).min(self.length)
    }

    /// First row where an anomaly may start: [`Self::clean_rows`], but at least 1 (a stuck
    /// sensor needs a previous value).
    pub(crate) fn anomaly_region_start(&self) -> usize {
        self.clean_rows().max(1)
    }

    /// Number of anomaly segments each series gets.
    pub fn segments_per_series(&self) -> usize {
        let eligible = self.length.saturating_sub(self.anomaly_region_start());
        (self.anomaly_rate * eligible as f64 / 1000.0).round() as usize
    }

    /// Check every setting; the error names the setting and why it is rejected.
    pub fn validate(&self) -> Result<()> {
        if self.series == 0 {
            return Err(Error::invalid(
                "simulation series",
                "at least one series is needed",
            ));
        }
        if self.variates < 2 {
            return Err(Error::invalid(
                "simulation variates",
                format!(
                    "{} variate(s) given, at least 2 are needed (a driver and a driven sensor)",
                    self.variates
                ),
            ));
        }
        if self.frequency.micros <= 0 {
            return Err(Error::invalid(
                "simulation frequency",
                "the sampling period must be positive",
            ));
        }
        if self.frequency.micros > DAY_MICROS / MIN_ROWS_PER_DAY {
            return Err(Error::invalid(
                "simulation frequency",
                format!(
                    "{} is too coarse: at least {MIN_ROWS_PER_DAY} samples per day are needed to resolve \
                     the daily cycle (use 6h or finer)",
                    self.frequency
                ),
            ));
        }
        let min_len = 2 * self.rows_per_day().ceil() as usize;
        if self.length < min_len {
            return Err(Error::invalid(
                "simulation length",
                format!(
                    "{} rows given, at least {min_len} (two days at {}) are needed",
                    self.length, self.frequency
                ),
            ));
        }
        let cells = self
            .series
            .checked_mul(self.variates)
            .and_then(|c| c.checked_mul(self.length.checked_add(self.offset)?));
        if cells.is_none_or(|c| c > MAX_CELLS) {
            return Err(Error::invalid(
                "simulation size",
                format!("series * variates * (offset + length) must be at most {MAX_CELLS}"),
            ));
        }
        let span = i64::try_from(self.length.saturating_add(self.offset))
            .ok()
            .and_then(|rows| rows.checked_mul(self.frequency.micros));
        let end = span.and_then(|s| self.start.checked_add_signed(chrono::TimeDelta::microseconds(s)));
        if end.is_none() {
            return Err(Error::invalid(
                "simulation start",
                "the time axis overflows the calendar",
            ));
        }
        if !(0.0..1.0).contains(&self.missing_rate) {
            return Err(Error::invalid(
                "simulation missing_rate",
                format!("{} is not in [0, 1)", self.missing_rate),
            ));
        }
        if !(0.0..1.0).contains(&self.train_fraction_clean) {
            return Err(Error::invalid(
                "simulation train_fraction_clean",
                format!("{} is not in [0, 1)", self.train_fraction_clean),
            ));
        }
        if !(0.0..=MAX_ANOMALY_RATE).contains(&self.anomaly_rate) {
            return Err(Error::invalid(
                "simulation anomaly_rate",
                format!(
                    "{} is not in [0, {MAX_ANOMALY_RATE}] (segments per 1000 rows)",
                    self.anomaly_rate
                ),
            ));
        }
        if self.anomaly_rate > 0.0 && self.anomaly_kinds.is_empty() {
            return Err(Error::invalid(
                "simulation anomaly_kinds",
                "no kinds given but anomaly_rate > 0 (set anomaly_rate to 0 for no anomalies)",
            ));
        }
        for (i, k) in self.anomaly_kinds.iter().enumerate() {
            if self.anomaly_kinds[..i].contains(k) {
                return Err(Error::invalid(
                    "simulation anomaly_kinds",
                    format!("`{k}` is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// `Frequency` as `"5min"` (also accepts `{"micros": 300000000}`).
mod freq_serde {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::frame::Frequency;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Micros { micros: i64 },
    }

    pub(super) fn serialize<S: Serializer>(f: &Frequency, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(f)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Frequency, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Text(t) => Frequency::parse(&t).map_err(D::Error::custom),
            Repr::Micros { micros } => Frequency::try_from_micros(micros).map_err(D::Error::custom),
        }
    }
}

/// `NaiveDateTime` as `"2024-01-01 00:00:00"` (also accepts `T` as separator, or a date alone).
mod start_serde {
    use chrono::{NaiveDate, NaiveDateTime};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

    pub(super) fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format(FORMAT))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let text = String::deserialize(d)?;
        let t = text.trim();
        NaiveDateTime::parse_from_str(t, FORMAT)
            .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
            .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M"))
            .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M"))
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "cannot parse start time {text:?} (e.g. \"2024-01-01 00:00:00\")"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_documented_values_hold() {
        let c = SimConfig::default();
        c.validate().unwrap();
        assert_eq!((c.series, c.variates, c.length), (3, 6, 4032));
        assert_eq!(c.rows_per_day(), 288.0);
        assert_eq!(c.clean_rows(), 2016);
        assert_eq!(c.segments_per_series(), 3);
        assert_eq!(c.start.to_string(), "2024-01-01 00:00:00");
    }

    #[test]
    fn json_round_trip_and_partial_config() {
        let c = SimConfig {
            seed: 7,
            frequency: Frequency::minutes(15),
            ..SimConfig::default()
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"15min\""), "{json}");
        assert!(json.contains("\"2024-01-01 00:00:00\""), "{json}");
        let back: SimConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);

        let partial: SimConfig = serde_json::from_str(
            r#"{"series": 2, "frequency": "1h", "start": "2023-06-01",
                "anomaly_kinds": ["spike", "stuck_sensor"]}"#,
        )
        .unwrap();
        assert_eq!(partial.series, 2);
        assert_eq!(partial.frequency, Frequency::minutes(60));
        assert_eq!(partial.start.to_string(), "2023-06-01 00:00:00");
        assert_eq!(
            partial.anomaly_kinds,
            vec![AnomalyKind::Spike, AnomalyKind::StuckSensor]
        );
        assert_eq!(partial.length, SimConfig::default().length);
        assert!(serde_json::from_str::<SimConfig>(r#"{"frequency": "5 parsecs"}"#).is_err());
        assert!(serde_json::from_str::<SimConfig>(r#"{"serie": 2}"#).is_err());
    }
}
