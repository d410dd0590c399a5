//! The opt-in `--resample mean` load policy: put a series with irregular timestamp spacing on
//! the regular grid of the frequency by averaging the rows of each grid bin.
//!
//! Semantics ([`resample_mean`]), per series:
//! - the grid is `t0 + k·f` with `f` the frequency and `t0` the series' first timestamp floored
//!   to a multiple of `f` since 1970-01-01T00:00 (so a 5-minute grid sits on :00, :05, …; a
//!   weekly grid on Thursdays, the epoch's weekday);
//! - grid point `t` takes the rows whose timestamps fall in `[t, t + f)`: each variate gets the
//!   mean of its present (non-`NaN`) values there (`NaN` if all are missing), the label the
//!   max (any 1 → 1);
//! - a grid point with no row is left out here, so it becomes a gap that
//!   [`crate::validate::regularize`] inserts and the missing-value policy then fills (or, under
//!   `error`, refuses with [`crate::Error::MissingValues`] on the `<time grid>` column).
//!
//! A series already on that grid (every timestamp a multiple of `f`, one row per grid point)
//! is returned unchanged. A regular series offset from the epoch grid (e.g. 5-minute rows at
//! :01, :06, …) keeps its values but its timestamps are floored onto the grid.
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::frame::{Frequency, Micros, Series, format_micros};

/// What [`resample_mean`] did to one series (or, summed, to a dataset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResampleStats {
    /// Input rows that fell into a bin already holding an earlier row (rows in − bins with a row).
    pub merged: usize,
    /// Grid points between the first and last bin that no row fell into (they become gaps).
    pub empty: usize,
}

impl std::ops::AddAssign for ResampleStats {
    fn add_assign(&mut self, o: Self) {
        self.merged += o.merged;
        self.empty += o.empty;
    }
}

/// The grid point (bin start) of timestamp `t`: `t` floored to a multiple of `frequency`;
/// `None` when that multiple is below `i64::MIN` (see [`Frequency::floor`]).
pub fn bin_start(t: Micros, frequency: Frequency) -> Option<Micros> {
    frequency.floor(t)
}

/// Average `series` onto the grid of `frequency` (see the module docs). `rows`: the file data
/// row of each timestamp; on return, the file row of the first row of each bin.
///
/// `series.timestamps` must be sorted (non-decreasing), as the readers guarantee.
///
/// # Errors
/// [`Error::TimestampOverflow`] when a timestamp's grid point is below `i64::MIN`.
pub fn resample_mean(
    series: &mut Series,
    rows: &mut Vec<usize>,
    frequency: Frequency,
) -> Result<ResampleStats> {
    let n = series.timestamps.len();
    if n == 0 {
        return Ok(ResampleStats::default());
    }
    // Bin boundaries: `starts[b]` = first input row of bin b, `grid[b]` = its grid point.
    let mut grid: Vec<Micros> = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    for (i, &t) in series.timestamps.iter().enumerate() {
        let g = bin_start(t, frequency).ok_or_else(|| Error::TimestampOverflow {
            series: series.id.clone(),
            row: rows[i],
            what: format!("the {frequency} grid point of {}", format_micros(t)),
        })?;
        if grid.last() != Some(&g) {
            debug_assert!(grid.last().is_none_or(|&p| p < g), "timestamps must be sorted");
            grid.push(g);
            starts.push(i);
        }
    }
    let bins = grid.len();
    // Grid points a whole number of periods apart; i128 holds any difference of two i64.
    let periods = (i128::from(grid[bins - 1]) - i128::from(grid[0])) / i128::from(frequency.micros);
    let span = usize::try_from(periods).unwrap_or(usize::MAX).saturating_add(1);
    let stats = ResampleStats {
        merged: n - bins,
        empty: span - bins,
    };
    if bins == n && grid == series.timestamps {
        return Ok(stats); // already on the grid: nothing to change
    }
    let end = |b: usize| starts.get(b + 1).copied().unwrap_or(n);
    for col in &mut series.values {
        let out = (0..bins)
            .map(|b| {
                let (mut sum, mut count) = (0f64, 0usize);
                for &v in &col[starts[b]..end(b)] {
                    if !v.is_nan() {
                        sum += f64::from(v);
                        count += 1;
                    }
                }
                if count == 0 {
                    f32::NAN
                } else {
                    (sum / count as f64) as f32
                }
            })
            .collect();
        *col = out;
    }
    if let Some(labels) = &mut series.labels {
        *labels = (0..bins)
            .map(|b| labels[starts[b]..end(b)].iter().copied().max().unwrap_or(0))
            .collect();
    }
    *rows = starts.iter().map(|&i| rows[i]).collect();
    series.timestamps = grid;
    Ok(stats)
}

/// The frequency to resample to when none is given: the most common positive step over all
/// series (as [`crate::validate::infer_frequency`], ties → the smaller), unless no step occurs
/// more than once (typical of jittered, truly irregular timestamps, where "most common" would
/// just pick the smallest step) — then the median positive step (the lower middle one for an
/// even count). Returns the frequency and whether the median was used.
///
/// Errors with [`Error::Frequency`] when no series has two distinct timestamps.
pub fn infer_resample_frequency<'a>(
    series: impl IntoIterator<Item = &'a [Micros]>,
) -> Result<(Frequency, bool)> {
    let mut steps: Vec<i64> = Vec::new();
    for ts in series {
        // A step too large for i64 cannot be a sampling period; the grid check reports it.
        steps.extend(
            ts.windows(2)
                .filter_map(|w| w[1].checked_sub(w[0]))
                .filter(|&s| s > 0),
        );
    }
    if steps.is_empty() {
        return Err(Error::Frequency {
            reason: "no series has two or more distinct timestamps; pass the frequency explicitly".into(),
        });
    }
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for &s in &steps {
        *counts.entry(s).or_default() += 1;
    }
    let (mode, count) = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .expect("steps is not empty");
    if count >= 2 || steps.len() == 1 {
        return Ok((Frequency::from_micros(mode), false));
    }
    steps.sort_unstable();
    Ok((Frequency::from_micros(steps[(steps.len() - 1) / 2]), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn series(ts_min: &[i64], values: &[f32], labels: &[u8]) -> Series {
        Series {
            id: "s".into(),
            timestamps: ts_min.iter().map(|m| m * MIN).collect(),
            values: vec![values.to_vec()],
            labels: Some(labels.to_vec()),
        }
    }

    #[test]
    fn resample_averages_bins_and_takes_label_max() {
        // 5-minute grid; timestamps in minutes since the epoch.
        // bin 10 (10..15): rows at 11, 13, 14 → (2 + 4 + 9) / 3 = 5, labels 0,1,0 → 1
        // bin 15 (15..20): row at 15 → 7, label 0
        // bin 20: empty
        // bin 25 (25..30): rows at 26, 29 → (1 + 2) / 2 = 1.5, labels 0,0 → 0
        let mut s = series(
            &[11, 13, 14, 15, 26, 29],
            &[2.0, 4.0, 9.0, 7.0, 1.0, 2.0],
            &[0, 1, 0, 0, 0, 0],
        );
        let mut rows = vec![0, 1, 2, 3, 4, 5];
        let st = resample_mean(&mut s, &mut rows, Frequency::minutes(5)).unwrap();
        assert_eq!(st, ResampleStats { merged: 3, empty: 1 });
        assert_eq!(s.timestamps, vec![10 * MIN, 15 * MIN, 25 * MIN]);
        assert_eq!(s.values[0], vec![5.0, 7.0, 1.5]);
        assert_eq!(s.labels.as_deref(), Some(&[1, 0, 0][..]));
        assert_eq!(rows, vec![0, 3, 4]);
    }

    #[test]
    fn resample_mean_skips_missing_values_in_a_bin() {
        let mut s = series(&[0, 1, 5, 6], &[f32::NAN, 3.0, f32::NAN, f32::NAN], &[0, 0, 0, 0]);
        let mut rows = vec![0, 1, 2, 3];
        resample_mean(&mut s, &mut rows, Frequency::minutes(5)).unwrap();
        assert_eq!(s.values[0][0], 3.0);
        assert!(s.values[0][1].is_nan());
    }

    #[test]
    fn resample_leaves_a_regular_series_unchanged() {
        let mut s = series(&[0, 5, 10, 20, 25], &[1.0, 2.0, 3.0, 4.0, 5.0], &[0, 1, 0, 0, 1]);
        let before = s.clone();
        let mut rows = vec![3, 4, 5, 6, 7];
        let st = resample_mean(&mut s, &mut rows, Frequency::minutes(5)).unwrap();
        assert_eq!(st, ResampleStats { merged: 0, empty: 1 });
        assert_eq!(s, before);
        assert_eq!(rows, vec![3, 4, 5, 6, 7]);
    }

    #[test]
    fn resample_bins_floor_before_the_epoch() {
        assert_eq!(bin_start(-1, Frequency::from_micros(10)), Some(-10));
        assert_eq!(bin_start(-10, Frequency::from_micros(10)), Some(-10));
        assert_eq!(bin_start(19, Frequency::from_micros(10)), Some(10));
        assert_eq!(bin_start(i64::MIN + 5, Frequency::from_micros(10)), None);
    }

    #[test]
    fn resample_frequency_mode_or_median() {
        // A repeated step: the mode, as the default inference.
        let a = [0, 300, 600, 780, 900];
        assert_eq!(
            infer_resample_frequency([&a[..]]).unwrap(),
            (Frequency::from_micros(300), false)
        );
        // All steps distinct: the median (steps 7, 9, 12, 50 → lower middle 9).
        let b = [0, 7, 16, 28, 78];
        assert_eq!(
            infer_resample_frequency([&b[..]]).unwrap(),
            (Frequency::from_micros(9), true)
        );
        assert!(matches!(
            infer_resample_frequency([&[5, 5][..]]),
            Err(Error::Frequency { .. })
        ));
    }

    // Through `source::load`: the policy as the CLI applies it.
    mod load {
        use crate::Error;
        use crate::missing::MissingPolicy;
        use crate::source::{DatasetSpec, NonIncreasing, Resample, load};
        use crate::validate::TIME_GRID;
        use crate::{Frequency, TimeFrame};

        /// Irregular 5-minute data: bins [00:00, 00:05) ← 1, 2, 6; [00:05, 00:10) ← 4;
        /// [00:10, 00:15) empty; [00:15, 00:20) ← 10, 20.
        const IRREGULAR: &str = "timestamp,value,label\n\
            2020-01-01 00:00:00,1,0\n\
            2020-01-01 00:02:00,2,1\n\
            2020-01-01 00:04:00,6,0\n\
            2020-01-01 00:05:00,4,0\n\
            2020-01-01 00:15:00,10,0\n\
            2020-01-01 00:17:30,20,1\n";

        fn spec(dir: &tempfile::TempDir, csv: &str, missing: MissingPolicy) -> DatasetSpec {
            let path = dir.path().join("s.csv");
            std::fs::write(&path, csv).unwrap();
            DatasetSpec {
                label_column: Some("label".into()),
                missing,
                frequency: Some(Frequency::minutes(5)),
                ..DatasetSpec::wide(path)
            }
        }

        fn mean(spec: DatasetSpec) -> DatasetSpec {
            DatasetSpec {
                resample: Resample::Mean,
                ..spec
            }
        }

        #[test]
        fn resample_default_still_refuses_irregular_spacing() {
            let dir = tempfile::tempdir().unwrap();
            let spec = spec(&dir, IRREGULAR, MissingPolicy::Linear);
            assert_eq!(spec.resample, Resample::None);
            let err = load(&spec).unwrap_err();
            assert!(matches!(err, Error::IrregularSpacing { row: 1, .. }), "{err:?}");
            let msg = err.to_string();
            assert!(
                msg.starts_with(
                    "series `s`: irregular spacing at row 1: step 2min is not a multiple of the frequency 5min"
                ),
                "{msg}"
            );
            assert!(msg.contains("--resample mean"), "{msg}");
        }

        #[test]
        fn resample_mean_averages_bins_then_fills_empty_ones_linearly() {
            let dir = tempfile::tempdir().unwrap();
            let (frame, report) = load(&mean(spec(&dir, IRREGULAR, MissingPolicy::Linear))).unwrap();
            let s = &frame.series[0];
            let min = 60_000_000i64;
            let t0 = s.timestamps[0];
            assert_eq!(crate::frame::format_micros(t0), "2020-01-01 00:00:00");
            assert_eq!(s.timestamps, (0..4).map(|k| t0 + 5 * k * min).collect::<Vec<_>>());
            // (1+2+6)/3 = 3; 4; empty → linear between 4 and 15 = 9.5; (10+20)/2 = 15.
            assert_eq!(s.values[0], vec![3.0, 4.0, 9.5, 15.0]);
            // Label max per bin; the empty bin gets 0.
            assert_eq!(s.labels.as_deref(), Some(&[1, 0, 0, 1][..]));
            assert_eq!(report.rows_read, 6);
            assert_eq!((report.resample_merged, report.resample_empty), (3, 1));
            assert_eq!(report.gaps_filled, 1);
            assert_eq!(report.frequency, Frequency::minutes(5));
        }

        #[test]
        fn resample_mean_empty_bin_is_refused_under_missing_error() {
            let dir = tempfile::tempdir().unwrap();
            match load(&mean(spec(&dir, IRREGULAR, MissingPolicy::Error))) {
                Err(Error::MissingValues {
                    column,
                    count,
                    first_row,
                    ..
                }) => assert_eq!((column.as_str(), count, first_row), (TIME_GRID, 1, 2)),
                other => panic!("{other:?}"),
            }
        }

        #[test]
        fn resample_mean_empty_bin_is_masked_under_mask() {
            let dir = tempfile::tempdir().unwrap();
            let (frame, _) = load(&mean(spec(&dir, IRREGULAR, MissingPolicy::Mask))).unwrap();
            let v = &frame.series[0].values[0];
            assert_eq!((v[0], v[1], v[3]), (3.0, 4.0, 15.0));
            assert!(v[2].is_nan());
        }

        #[test]
        fn resample_mean_leaves_a_regular_file_unchanged() {
            let dir = tempfile::tempdir().unwrap();
            let csv = "timestamp,value,label\n\
                2020-01-01 00:00:00,1.5,0\n\
                2020-01-01 00:05:00,2.5,1\n\
                2020-01-01 00:15:00,3.5,0\n\
                2020-01-01 00:20:00,4.5,0\n";
            let base = spec(&dir, csv, MissingPolicy::Linear);
            let (plain, r0): (TimeFrame, _) = load(&base).unwrap();
            let (resampled, r1) = load(&mean(base.clone())).unwrap();
            assert_eq!(plain, resampled);
            assert_eq!((r1.resample_merged, r1.resample_empty), (0, 1));
            assert_eq!(r0.gaps_filled, r1.gaps_filled);
            // Inferred frequency too (no --frequency): the most common step, 5 minutes.
            let inferred = DatasetSpec {
                frequency: None,
                ..mean(base)
            };
            let (f, r2) = load(&inferred).unwrap();
            assert_eq!(r2.frequency, Frequency::minutes(5));
            assert_eq!(f, plain);
        }

        #[test]
        fn resample_mean_applies_after_non_increasing() {
            let dir = tempfile::tempdir().unwrap();
            // A repeated timestamp: refused by the default --non-increasing error even under
            // Mean; with drop, the repeat is dropped first and the rest averaged.
            let csv = "timestamp,value,label\n\
                2020-01-01 00:00:00,1,0\n\
                2020-01-01 00:03:00,3,0\n\
                2020-01-01 00:03:00,100,1\n\
                2020-01-01 00:06:00,5,0\n";
            let base = mean(spec(&dir, csv, MissingPolicy::Error));
            assert!(matches!(
                load(&base),
                Err(Error::DuplicateTimestamp { row: 2, .. })
            ));
            let (frame, report) = load(&DatasetSpec {
                non_increasing: NonIncreasing::Drop,
                ..base
            })
            .unwrap();
            assert_eq!(frame.series[0].values[0], vec![2.0, 5.0]);
            assert_eq!(frame.series[0].labels.as_deref(), Some(&[0, 0][..]));
            assert_eq!(report.dropped_non_increasing, 1);
            assert_eq!((report.resample_merged, report.resample_empty), (1, 0));
        }
    }
}
