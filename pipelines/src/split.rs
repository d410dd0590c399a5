//! Chronological train / validation / test splits, exactly as the published long-term
//! forecasting (LTSF) protocol builds them.
//!
//! A split yields, per series, three row ranges that a window source may read. Validation and
//! test ranges start `lookback` rows *before* their boundary so that the first forecast of each
//! part starts right at the boundary (the look-back of that window reaches into the previous
//! part, as in the Informer/Autoformer/TSLib data loaders):
//!
//! | spec | train | val | test |
//! |---|---|---|---|
//! | `ett-hourly` | `[0, 8640)` | `[8640 − L, 11520)` | `[11520 − L, 14400)` |
//! | `ett-15min` | `[0, 34560)` | `[34560 − L, 46080)` | `[46080 − L, 57600)` |
//! | `ratio:a,b,c` | `[0, n_train)` | `[n_train − L, n_train + n_val)` | `[n − n_test − L, n)` |
//!
//! with `n_train = int(a·n)`, `n_test = int(c·n)`, `n_val = n − n_train − n_test` (the Python
//! `int()` truncation of the reference code, computed in `f64`).
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::{Series, TimeFrame};

/// Row boundaries of the ETTh1/ETTh2 benchmark split (12 / 4 / 4 months of hourly rows).
pub const ETT_HOURLY_ROWS: [usize; 3] = [8640, 11520, 14400];
/// Row boundaries of the ETTm1/ETTm2 benchmark split (the hourly boundaries × 4).
pub const ETT_15MIN_ROWS: [usize; 3] = [34560, 46080, 57600];

/// How to split each series chronologically. Parse with [`FromStr`]: `ratio:0.7,0.1,0.2`,
/// `rows:8640,11520,14400`, `ett-hourly`, `ett-15min`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SplitSpec {
    /// Fractions of each series' rows; they must be ≥ 0 and sum to 1. `val` is implied as
    /// the remainder `n − int(train·n) − int(test·n)`, as in the reference code.
    Ratio {
        /// Fraction of rows used for training.
        train: f64,
        /// Fraction of rows used for validation (only checked; the count is the remainder).
        val: f64,
        /// Fraction of rows used for testing.
        test: f64,
    },
    /// Absolute row boundaries: train `[0, train_end)`, val `[train_end − L, val_end)`, test
    /// `[val_end − L, test_end)`. Rows from `test_end` on are not used.
    Rows {
        /// End (exclusive) of the training rows.
        train_end: usize,
        /// End (exclusive) of the validation rows.
        val_end: usize,
        /// End (exclusive) of the test rows.
        test_end: usize,
    },
    /// The ETTh benchmark split: `rows:8640,11520,14400`.
    EttHourly,
    /// The ETTm benchmark split: `rows:34560,46080,57600`.
    Ett15Min,
}

/// Which part of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SplitPart {
    /// Training rows.
    Train,
    /// Validation rows (with the look-back before the boundary).
    Val,
    /// Test rows (with the look-back before the boundary).
    Test,
}

/// Row ranges of one series that the windows of each part may read (0-based, end exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRanges {
    /// Training rows; the scaler is fitted on these only.
    pub train: Range<usize>,
    /// Validation rows, starting `lookback` rows before the train/val boundary.
    pub val: Range<usize>,
    /// Test rows, starting `lookback` rows before the val/test boundary.
    pub test: Range<usize>,
}

impl SplitRanges {
    /// The range of `part`.
    pub fn get(&self, part: SplitPart) -> Range<usize> {
        match part {
            SplitPart::Train => self.train.clone(),
            SplitPart::Val => self.val.clone(),
            SplitPart::Test => self.test.clone(),
        }
    }
}

impl SplitSpec {
    /// The row ranges for a series of `n_rows` rows and a look-back of `lookback` rows.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for fractions that are negative, not finite or do not sum to 1,
    /// or boundaries that are not increasing; [`Error::TooShort`] when the series has fewer rows
    /// than the split needs (a `Rows`/ETT split needs `test_end` rows; every split needs at
    /// least `lookback` training rows so that validation can start `lookback` rows earlier).
    pub fn ranges(&self, n_rows: usize, lookback: usize) -> Result<SplitRanges> {
        self.ranges_named("<series>", n_rows, lookback)
    }

    /// [`ranges`](Self::ranges) for one series, naming it in errors.
    pub fn ranges_for(&self, series: &Series, lookback: usize) -> Result<SplitRanges> {
        self.ranges_named(&series.id, series.len(), lookback)
    }

    /// [`ranges`](Self::ranges) for every series of `frame`, in frame order, [series].
    pub fn frame_ranges(&self, frame: &TimeFrame, lookback: usize) -> Result<Vec<SplitRanges>> {
        frame
            .series
            .iter()
            .map(|s| self.ranges_for(s, lookback))
            .collect()
    }

    fn ranges_named(&self, series: &str, n: usize, lookback: usize) -> Result<SplitRanges> {
        let too_short = |needed: usize, what: String| Error::TooShort {
            series: series.to_string(),
            len: n,
            needed,
            what,
        };
        let (train_end, val_end, test_start, test_end) = match *self {
            SplitSpec::Ratio { train, val, test } => {
                check_fractions(train, val, test)?;
                // Python: int(len * 0.7), int(len * 0.2); the product is the same IEEE value.
                let n_train = (n as f64 * train) as usize;
                let n_test = (n as f64 * test) as usize;
                let n_val = n - n_train - n_test;
                if n_train == 0 {
                    return Err(too_short(
                        (1.0 / train).ceil() as usize,
                        format!("a split `{self}` with at least one training row"),
                    ));
                }
                (n_train, n_train + n_val, n - n_test, n)
            }
            SplitSpec::Rows {
                train_end,
                val_end,
                test_end,
            } => self.rows(n, [train_end, val_end, test_end], too_short)?,
            SplitSpec::EttHourly => self.rows(n, ETT_HOURLY_ROWS, too_short)?,
            SplitSpec::Ett15Min => self.rows(n, ETT_15MIN_ROWS, too_short)?,
        };
        if train_end < lookback || test_start < lookback {
            return Err(too_short(
                n.max(lookback + 1),
                format!(
                    "split `{self}` with a look-back of {lookback}: the training part has only {train_end} rows"
                ),
            ));
        }
        Ok(SplitRanges {
            train: 0..train_end,
            val: train_end - lookback..val_end,
            test: test_start - lookback..test_end,
        })
    }

    /// `(train_end, val_end, test_start, test_end)` of a row-boundary split.
    fn rows(
        &self,
        n: usize,
        [train_end, val_end, test_end]: [usize; 3],
        too_short: impl Fn(usize, String) -> Error,
    ) -> Result<(usize, usize, usize, usize)> {
        if !(0 < train_end && train_end <= val_end && val_end <= test_end) {
            return Err(Error::invalid(
                "split",
                format!(
                    "row boundaries must satisfy 0 < train_end <= val_end <= test_end, got {train_end},{val_end},{test_end}"
                ),
            ));
        }
        if n < test_end {
            return Err(too_short(test_end, format!("split `{self}`")));
        }
        Ok((train_end, val_end, val_end, test_end))
    }
}

fn check_fractions(train: f64, val: f64, test: f64) -> Result<()> {
    let all = [train, val, test];
    if all.iter().any(|f| !f.is_finite() || *f < 0.0 || *f > 1.0) {
        return Err(Error::invalid(
            "split",
            format!("fractions must be finite and within [0, 1], got {train},{val},{test}"),
        ));
    }
    if train <= 0.0 {
        return Err(Error::invalid("split", "the training fraction must be > 0"));
    }
    let sum = train + val + test;
    if (sum - 1.0).abs() > 1e-9 {
        return Err(Error::invalid(
            "split",
            format!("fractions must sum to 1, got {train}+{val}+{test} = {sum}"),
        ));
    }
    Ok(())
}

impl FromStr for SplitSpec {
    type Err = Error;

    /// `ratio:0.7,0.1,0.2`, `rows:8640,11520,14400`, `ett-hourly` (alias `etth`),
    /// `ett-15min` (alias `ettm`).
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        let bad = |reason: String| Error::invalid("split", format!("{s:?}: {reason}"));
        match t.as_str() {
            "ett-hourly" | "etth" | "ett-h" | "ett-1h" => return Ok(SplitSpec::EttHourly),
            "ett-15min" | "ettm" | "ett-m" => return Ok(SplitSpec::Ett15Min),
            _ => {}
        }
        let (kind, rest) = t.split_once(':').ok_or_else(|| {
            bad(
                "expected ratio:TRAIN,VAL,TEST, rows:TRAIN_END,VAL_END,TEST_END, ett-hourly or ett-15min"
                    .into(),
            )
        })?;
        let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
        if parts.len() != 3 {
            return Err(bad(format!(
                "expected 3 comma-separated numbers, got {}",
                parts.len()
            )));
        }
        match kind.trim() {
            "ratio" => {
                let mut f = [0.0f64; 3];
                for (slot, p) in f.iter_mut().zip(&parts) {
                    *slot = p.parse().map_err(|_| bad(format!("`{p}` is not a number")))?;
                }
                check_fractions(f[0], f[1], f[2])?;
                Ok(SplitSpec::Ratio {
                    train: f[0],
                    val: f[1],
                    test: f[2],
                })
            }
            "rows" => {
                let mut r = [0usize; 3];
                for (slot, p) in r.iter_mut().zip(&parts) {
                    *slot = p.parse().map_err(|_| bad(format!("`{p}` is not a row count")))?;
                }
                if !(0 < r[0] && r[0] <= r[1] && r[1] <= r[2]) {
                    return Err(bad(
                        "row boundaries must satisfy 0 < train_end <= val_end <= test_end".into(),
                    ));
                }
                Ok(SplitSpec::Rows {
                    train_end: r[0],
                    val_end: r[1],
                    test_end: r[2],
                })
            }
            other => Err(bad(format!("unknown split kind `{other}`"))),
        }
    }
}

impl std::fmt::Display for SplitSpec {
    /// The form [`FromStr`] accepts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitSpec::Ratio { train, val, test } => write!(f, "ratio:{train},{val},{test}"),
            SplitSpec::Rows {
                train_end,
                val_end,
                test_end,
            } => write!(f, "rows:{train_end},{val_end},{test_end}"),
            SplitSpec::EttHourly => f.write_str("ett-hourly"),
            SplitSpec::Ett15Min => f.write_str("ett-15min"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ett_hourly_ranges() {
        let r = SplitSpec::EttHourly.ranges(17420, 96).unwrap();
        assert_eq!(r.train, 0..8640);
        assert_eq!(r.val, 8544..11520);
        assert_eq!(r.test, 11424..14400);
    }

    #[test]
    fn ett_15min_ranges() {
        let r = SplitSpec::Ett15Min.ranges(69680, 96).unwrap();
        assert_eq!(r.train, 0..34560);
        assert_eq!(r.val, 34464..46080);
        assert_eq!(r.test, 45984..57600);
    }

    #[test]
    fn ratio_matches_python_int_truncation() {
        // exchange_rate: 7588 rows → int(5311.6) = 5311, int(1517.6) = 1517, val = 760.
        let r = SplitSpec::from_str("ratio:0.7,0.1,0.2")
            .unwrap()
            .ranges(7588, 96)
            .unwrap();
        assert_eq!(r.train, 0..5311);
        assert_eq!(r.val, 5311 - 96..5311 + 760);
        assert_eq!(r.test, 7588 - 1517 - 96..7588);
        // national_illness: 966 rows, L = 36 → 676 / 193 / 97.
        let r = SplitSpec::from_str("ratio:0.7,0.1,0.2")
            .unwrap()
            .ranges(966, 36)
            .unwrap();
        assert_eq!(r.train, 0..676);
        assert_eq!(r.val, 640..773);
        assert_eq!(r.test, 737..966);
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "ratio:0.7,0.1,0.2",
            "rows:8640,11520,14400",
            "ett-hourly",
            "ett-15min",
        ] {
            assert_eq!(SplitSpec::from_str(s).unwrap().to_string(), s);
        }
        assert_eq!(SplitSpec::from_str("ETTh").unwrap(), SplitSpec::EttHourly);
        assert_eq!(
            SplitSpec::from_str("rows:8640,11520,14400")
                .unwrap()
                .ranges(14400, 96)
                .unwrap(),
            { SplitSpec::EttHourly.ranges(17420, 96).unwrap() }
        );
    }

    #[test]
    fn bad_specs_are_rejected() {
        for s in [
            "ratio:0.7,0.1,0.1",
            "ratio:0.7,0.1",
            "ratio:a,b,c",
            "rows:3,2,1",
            "nope",
            "ratio:-0.1,0.9,0.2",
        ] {
            assert!(
                matches!(
                    SplitSpec::from_str(s),
                    Err(Error::InvalidConfig { what: "split", .. })
                ),
                "{s} accepted"
            );
        }
    }

    #[test]
    fn too_short_series() {
        let e = SplitSpec::EttHourly.ranges(14399, 96).unwrap_err();
        assert!(
            matches!(
                e,
                Error::TooShort {
                    len: 14399,
                    needed: 14400,
                    ..
                }
            ),
            "{e}"
        );
        let e = SplitSpec::Ratio {
            train: 0.7,
            val: 0.1,
            test: 0.2,
        }
        .ranges(100, 96)
        .unwrap_err();
        assert!(matches!(e, Error::TooShort { len: 100, .. }), "{e}");
        let e = SplitSpec::Rows {
            train_end: 50,
            val_end: 60,
            test_end: 70,
        }
        .ranges(70, 51)
        .unwrap_err();
        assert!(matches!(e, Error::TooShort { .. }), "{e}");
    }
}
