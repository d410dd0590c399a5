//! [`load`]: a whole dataset into a validated [`TimeFrame`].
use super::assemble::{PivotAcc, SeriesAcc, WideAcc};
use super::raw::open;
use super::spec::{DatasetSpec, IngestReport};
use crate::error::{Error, Result};
use crate::frame::{Frequency, TimeFrame};
use crate::missing::fill_series;
use crate::resample::{ResampleStats, infer_resample_frequency, resample_mean};
use crate::validate::{infer_frequency, regularize};

/// Read, validate and regularise a dataset.
///
/// The file is streamed in `spec.batch_rows` batches of only the mapped columns; the series
/// are held in memory (use [`super::scan`] for bounded memory). Steps:
/// 1. per series (per series and variable for pivoted long files): timestamps strictly
///    increasing (else [`Error::UnsortedTimestamps`] / [`Error::DuplicateTimestamp`]),
///    values not `±inf` ([`Error::NonFinite`]);
/// 2. frequency = `spec.frequency`, or 1 minute for a synthetic index, or inferred
///    ([`crate::validate::infer_frequency`]; under [`super::Resample::Mean`],
///    [`crate::resample::infer_resample_frequency`]);
/// 3. under the opt-in [`super::Resample::Mean`] only: each series averaged onto the grid of
///    the frequency ([`crate::resample::resample_mean`]; counts in
///    [`IngestReport::resample_merged`] / [`IngestReport::resample_empty`], with a warning);
/// 4. every step a whole multiple of it ([`Error::IrregularSpacing`]); gaps get grid rows of
///    missing values;
/// 5. the missing-value policy, per series and column.
///
/// Series keep file order of first appearance; rows are never reordered, merged only under
/// [`super::Resample::Mean`], and dropped only under
/// the opt-in [`super::NonIncreasing::Drop`] (rows whose timestamp is not after the previous
/// kept row of their series; counted in [`IngestReport::dropped_non_increasing`], with a
/// warning).
pub fn load(spec: &DatasetSpec) -> Result<(TimeFrame, IngestReport)> {
    let src = open(spec)?;
    let plan = src.plan;
    let default_id = spec.default_series_id();
    let synthetic = spec.frequency.unwrap_or(Frequency::minutes(1));
    let mut rows_read = 0usize;
    let drop = spec.non_increasing == super::NonIncreasing::Drop;
    let dropped: usize;
    let (columns, mut accs): (Vec<String>, Vec<SeriesAcc>) = if plan.variable.is_some() {
        let mut acc = PivotAcc::default();
        acc.drop_non_increasing = drop;
        for batch in src.batches {
            let batch = batch?;
            rows_read += batch.len;
            acc.push(&batch, &plan.values[0])?;
        }
        dropped = acc.dropped;
        (acc.variables.clone(), acc.finish())
    } else {
        let mut acc = WideAcc::default();
        acc.drop_non_increasing = drop;
        for batch in src.batches {
            let batch = batch?;
            rows_read += batch.len;
            acc.push(&batch, &plan.values, &default_id, synthetic)?;
        }
        dropped = acc.dropped;
        (plan.values.clone(), acc.list)
    };
    if rows_read == 0 {
        return Err(Error::EmptyFile {
            path: spec.path.clone(),
        });
    }
    if dropped > 0 {
        tracing::warn!(
            path = %spec.path.display(),
            dropped,
            "dropped {dropped} rows whose timestamp was not after the previous kept row (--non-increasing drop)"
        );
    }
    let resample = spec.resample == super::Resample::Mean;
    let frequency = match (spec.frequency, &plan.time) {
        (Some(f), _) => f,
        (None, None) => synthetic,
        (None, Some(_)) if resample => {
            let (f, median) = infer_resample_frequency(accs.iter().map(|a| a.series.timestamps.as_slice()))?;
            if median {
                tracing::warn!(
                    path = %spec.path.display(),
                    %f,
                    "no timestamp step repeats: resampling to the median step {f} (pass --frequency to choose)"
                );
            }
            f
        }
        (None, Some(_)) => infer_frequency(accs.iter().map(|a| a.series.timestamps.as_slice()))?,
    };
    let mut resampled = ResampleStats::default();
    if resample {
        for acc in &mut accs {
            resampled += resample_mean(&mut acc.series, &mut acc.rows, frequency)?;
        }
        let (merged, empty) = (resampled.merged, resampled.empty);
        tracing::warn!(
            path = %spec.path.display(),
            %frequency,
            merged,
            empty,
            "resampled onto a {frequency} grid (--resample mean): {merged} row(s) averaged into a bin with an earlier row, {empty} grid point(s) without rows (missing values for --missing {})",
            spec.missing
        );
    }
    let mut gaps_filled = 0;
    let mut missing = Vec::new();
    for acc in &mut accs {
        gaps_filled += regularize(&mut acc.series, &acc.rows, frequency, spec.missing)?;
        acc.rows = Vec::new();
        missing.extend(fill_series(
            &mut acc.series.values,
            &columns,
            &acc.series.id,
            spec.missing,
        )?);
    }
    let series: Vec<_> = accs.into_iter().map(|a| a.series).collect();
    let report = IngestReport {
        path: spec.path.clone(),
        format: src.format,
        rows_read,
        series: series.len(),
        columns: columns.clone(),
        frequency,
        missing,
        gaps_filled,
        dropped_non_increasing: dropped,
        resample_merged: resampled.merged,
        resample_empty: resampled.empty,
    };
    tracing::debug!(path = %spec.path.display(), rows_read, series = report.series, %frequency, gaps_filled, "loaded dataset");
    Ok((
        TimeFrame {
            columns,
            series,
            frequency: Some(frequency),
        },
        report,
    ))
}
