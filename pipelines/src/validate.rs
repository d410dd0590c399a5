//! Validation of rows as they are read: per-series ordering, duplicates, finiteness,
//! frequency inference and the regular time grid (gap rows inserted, never rows dropped or
//! reordered).
//!
//! Row numbers in errors are 0-based file data rows, except [`Error::MissingValues`] whose
//! `first_row` is an index on the series' regular time grid.
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::frame::{Frequency, Micros, Series, format_micros};
use crate::missing::MissingPolicy;

/// Name used as the column of [`Error::MissingValues`] for gaps in the time grid.
pub const TIME_GRID: &str = "<time grid>";

/// Largest number of rows a gap may add to one series (guards against a typo such as a
/// year 2106 timestamp expanding a 1-minute grid into billions of rows).
pub const MAX_GAP_ROWS: usize = 10_000_000;

/// Check that `ts` (file data row `row`) may follow `prev` = (timestamp, row) in `series`:
/// [`Error::DuplicateTimestamp`] if equal, [`Error::UnsortedTimestamps`] if earlier.
pub fn check_order(series: &str, prev: Option<(Micros, usize)>, ts: Micros, row: usize) -> Result<()> {
    match prev {
        Some((p, _)) if ts == p => Err(Error::DuplicateTimestamp {
            series: series.to_string(),
            row,
            timestamp: format_micros(ts),
        }),
        Some((p, _)) if ts < p => Err(Error::UnsortedTimestamps {
            series: series.to_string(),
            row,
            previous: format_micros(p),
            next: format_micros(ts),
        }),
        _ => Ok(()),
    }
}

/// [`Error::NonFinite`] for `±inf`. `NaN` is a missing value, not an error here.
pub fn check_finite(column: &str, series: &str, row: usize, v: f32) -> Result<()> {
    if v.is_infinite() {
        return Err(Error::NonFinite {
            column: column.to_string(),
            series: series.to_string(),
            row,
            value: v.to_string(),
        });
    }
    Ok(())
}

/// The most common positive step between consecutive timestamps, over all series
/// (ties → the smaller step). Each series: [time], sorted.
///
/// Errors with [`Error::Frequency`] when no series has two timestamps.
pub fn infer_frequency<'a>(series: impl IntoIterator<Item = &'a [Micros]>) -> Result<Frequency> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for ts in series {
        for w in ts.windows(2) {
            // A step too large for i64 cannot be a sampling period; the grid check reports it.
            if let Some(step) = w[1].checked_sub(w[0])
                && step > 0
            {
                *counts.entry(step).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(step, _)| Frequency::from_micros(step))
        .ok_or_else(|| Error::Frequency {
            reason: "no series has two or more timestamps; pass the frequency explicitly".into(),
        })
}

/// How many grid steps lead from `prev` to `next`: `Ok(k)` with `k >= 1`, or
/// [`Error::IrregularSpacing`], or [`Error::TimestampOverflow`] when `next - prev` does not fit
/// in `i64`. Every `prev + j·frequency` for `j < k` then fits too.
pub fn grid_steps(
    series: &str,
    row: usize,
    prev: Micros,
    next: Micros,
    frequency: Frequency,
) -> Result<usize> {
    let step = next.checked_sub(prev).ok_or_else(|| Error::TimestampOverflow {
        series: series.to_string(),
        row,
        what: format!("the step from {} to {}", format_micros(prev), format_micros(next)),
    })?;
    if step <= 0 || step % frequency.micros != 0 {
        return Err(Error::IrregularSpacing {
            series: series.to_string(),
            row,
            step: if step > 0 {
                Frequency::from_micros(step).to_string()
            } else {
                format!("{step}us")
            },
            frequency: frequency.to_string(),
        });
    }
    usize::try_from(step / frequency.micros).map_err(|_| Error::TimestampOverflow {
        series: series.to_string(),
        row,
        what: format!("the number of {frequency} steps from {}", format_micros(prev)),
    })
}

/// Put `series` on the regular grid of `frequency`, inserting rows for gaps (values `NaN`,
/// label 0). `rows`: file data row of each timestamp, [time], for error messages.
///
/// Returns the number of inserted rows. Errors: [`Error::IrregularSpacing`]; under
/// [`MissingPolicy::Error`], [`Error::MissingValues`] with column [`TIME_GRID`] if any gap
/// exists; [`Error::InvalidConfig`] if gaps would add more than [`MAX_GAP_ROWS`] rows.
pub fn regularize(
    series: &mut Series,
    rows: &[usize],
    frequency: Frequency,
    policy: MissingPolicy,
) -> Result<usize> {
    let mut inserted = 0usize;
    let mut first_gap_row = None;
    for (i, w) in series.timestamps.windows(2).enumerate() {
        let row = rows[i + 1];
        let k = grid_steps(&series.id, row, w[0], w[1], frequency)?;
        if k > 1 {
            first_gap_row.get_or_insert(i + 1 + inserted);
            inserted += k - 1;
            if inserted > MAX_GAP_ROWS {
                return Err(Error::invalid(
                    "time grid",
                    format!(
                        "series `{}`: gaps up to row {} would insert more than {MAX_GAP_ROWS} rows at frequency {frequency}",
                        series.id, row
                    ),
                ));
            }
        }
    }
    let Some(first_row) = first_gap_row else {
        return Ok(0);
    };
    if policy == MissingPolicy::Error {
        return Err(Error::MissingValues {
            column: TIME_GRID.into(),
            series: series.id.clone(),
            count: inserted,
            first_row,
        });
    }
    let n = series.timestamps.len() + inserted;
    let old_ts = std::mem::take(&mut series.timestamps);
    let mut timestamps = Vec::with_capacity(n);
    // Map each old row to its grid index.
    let mut grid_index = Vec::with_capacity(old_ts.len());
    for &t in &old_ts {
        if let Some(&prev) = timestamps.last() {
            // Checked by `grid_steps` above: `t - prev` is k whole periods and fits.
            let k = ((t - prev) / frequency.micros) as usize;
            timestamps.extend((1..k).map(|j| prev + j as i64 * frequency.micros));
        }
        grid_index.push(timestamps.len());
        timestamps.push(t);
    }
    for col in &mut series.values {
        let mut out = vec![f32::NAN; n];
        for (&g, &v) in grid_index.iter().zip(col.iter()) {
            out[g] = v;
        }
        *col = out;
    }
    if let Some(labels) = &mut series.labels {
        let mut out = vec![0u8; n];
        for (&g, &l) in grid_index.iter().zip(labels.iter()) {
            out[g] = l;
        }
        *labels = out;
    }
    series.timestamps = timestamps;
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(ts: &[i64]) -> Series {
        Series {
            id: "s".into(),
            timestamps: ts.to_vec(),
            values: vec![ts.iter().map(|&t| t as f32).collect()],
            labels: Some(vec![1; ts.len()]),
        }
    }

    #[test]
    fn order_errors() {
        assert!(check_order("s", None, 5, 0).is_ok());
        assert!(matches!(
            check_order("s", Some((5, 0)), 5, 1),
            Err(Error::DuplicateTimestamp { row: 1, .. })
        ));
        assert!(matches!(
            check_order("s", Some((5, 0)), 4, 1),
            Err(Error::UnsortedTimestamps { row: 1, .. })
        ));
    }

    #[test]
    fn infers_most_common_step() {
        let a = [0, 10, 20, 40, 50];
        let b = [0, 30, 60];
        assert_eq!(infer_frequency([&a[..], &b[..]]).unwrap().micros, 10);
        // tie between 10 and 30 → smaller
        assert_eq!(infer_frequency([&[0, 10, 40][..]]).unwrap().micros, 10);
        assert!(matches!(
            infer_frequency([&[7][..]]),
            Err(Error::Frequency { .. })
        ));
    }

    #[test]
    fn regularize_inserts_gap_rows() {
        let mut s = series(&[0, 10, 40, 50]);
        let n = regularize(
            &mut s,
            &[0, 1, 2, 3],
            Frequency::from_micros(10),
            MissingPolicy::Mask,
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(s.timestamps, vec![0, 10, 20, 30, 40, 50]);
        let v = &s.values[0];
        assert_eq!((v[0], v[1], v[4], v[5]), (0.0, 10.0, 40.0, 50.0));
        assert!(v[2].is_nan() && v[3].is_nan());
        assert_eq!(s.labels.as_deref(), Some(&[1, 1, 0, 0, 1, 1][..]));
    }

    #[test]
    fn grid_steps_refuses_steps_that_overflow() {
        let f = Frequency::from_micros(10);
        assert_eq!(grid_steps("s", 1, 10, 40, f).unwrap(), 3);
        match grid_steps("s", 7, i64::MIN, i64::MAX, f) {
            Err(Error::TimestampOverflow { series, row, .. }) => assert_eq!((series.as_str(), row), ("s", 7)),
            other => panic!("{other:?}"),
        }
        // Steps that overflow are not candidates for the inferred frequency.
        assert_eq!(infer_frequency([&[i64::MIN, 0, 10, 20][..]]).unwrap().micros, 10);
    }

    #[test]
    fn regularize_errors() {
        let f = Frequency::from_micros(10);
        let mut s = series(&[0, 10, 25]);
        match regularize(&mut s, &[4, 5, 6], f, MissingPolicy::Mask) {
            Err(Error::IrregularSpacing { row, .. }) => assert_eq!(row, 6),
            other => panic!("{other:?}"),
        }
        let mut s = series(&[0, 10, 40]);
        match regularize(&mut s, &[0, 1, 2], f, MissingPolicy::Error) {
            Err(Error::MissingValues {
                column,
                count,
                first_row,
                ..
            }) => {
                assert_eq!((column.as_str(), count, first_row), (TIME_GRID, 2, 2));
            }
            other => panic!("{other:?}"),
        }
    }
}
