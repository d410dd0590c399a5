//! [`scan`]: validated chunks with bounded memory.
use std::collections::HashMap;
use std::sync::Arc;

use super::assemble::{row_time, series_runs};
use super::raw::{RawBatch, RawIter, open};
use super::spec::{DatasetSpec, Format};
use crate::error::{Error, Result};
use crate::frame::{Frequency, Micros};
use crate::missing::MissingPolicy;
use crate::validate::{TIME_GRID, check_finite, check_order, grid_steps, infer_frequency};

/// A block of validated rows from [`scan`], in file order (series may interleave), with
/// grid rows inserted for gaps (values `NaN`, label 0) just before the row that ends the gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// File data row of the first file row in this chunk.
    pub first_row: usize,
    /// Series id of each row, [rows].
    pub series: Vec<Arc<str>>,
    /// Timestamps, [rows].
    pub timestamps: Vec<Micros>,
    /// Values, [variates][rows]; `NaN` = missing (only under [`MissingPolicy::Mask`]).
    pub values: Vec<Vec<f32>>,
    /// 0/1 labels, [rows], when the spec names a label column.
    pub labels: Option<Vec<u8>>,
}

impl Chunk {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// True when the chunk has no rows.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }
}

/// Per-series state carried across chunks.
#[derive(Debug)]
struct State {
    id: Arc<str>,
    /// Last (timestamp, file row).
    last: Option<(Micros, usize)>,
    /// Rows emitted so far (grid index of the next row).
    grid: usize,
    /// File rows seen (synthetic index).
    seen: usize,
}

/// Iterator over validated [`Chunk`]s; see [`scan`].
pub struct Scan {
    batches: RawIter,
    pending: Option<RawBatch>,
    format: Format,
    columns: Vec<String>,
    frequency: Frequency,
    synthetic: Frequency,
    policy: MissingPolicy,
    default_id: String,
    states: HashMap<String, State>,
    done: bool,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("format", &self.format)
            .field("columns", &self.columns)
            .field("frequency", &self.frequency)
            .field("series_seen", &self.states.len())
            .finish_non_exhaustive()
    }
}

/// Stream a dataset as validated chunks of at most about `spec.batch_rows` file rows (plus
/// inserted gap rows), holding only one batch and a little state per series in memory.
///
/// The same checks as [`super::load`] run on the fly with state carried across chunks:
/// ordering, duplicates, `±inf`, spacing, gaps. Differences:
/// - without `spec.frequency` the frequency is inferred from the **first batch** only;
/// - only the `error` and `mask` policies are supported (ffill/linear need whole series);
///   under `error` the first missing value stops the scan (reported `count` is 1);
/// - long layouts with a `variable_column` are not supported (the pivot needs whole series).
///
/// When the file has no gaps, missing values or pivot, concatenating the chunks per series
/// gives exactly the series of [`super::load`].
pub fn scan(spec: &DatasetSpec) -> Result<Scan> {
    if !matches!(spec.missing, MissingPolicy::Error | MissingPolicy::Mask) {
        return Err(Error::invalid(
            "missing-value policy",
            format!(
                "scan supports `error` and `mask`, not `{}`; use load for ffill/linear",
                spec.missing
            ),
        ));
    }
    let src = open(spec)?;
    if src.plan.variable.is_some() {
        return Err(Error::invalid(
            "layout",
            "scan does not support long layouts with a variable column; use load",
        ));
    }
    let mut batches = src.batches;
    let first = batches.next().transpose()?.ok_or_else(|| Error::EmptyFile {
        path: spec.path.clone(),
    })?;
    let default_id = spec.default_series_id();
    let synthetic = spec.frequency.unwrap_or(Frequency::minutes(1));
    let frequency = match (spec.frequency, &first.time) {
        (Some(f), _) => f,
        (None, None) => synthetic,
        (None, Some(time)) => {
            let mut per_series: HashMap<&str, Vec<Micros>> = HashMap::new();
            for (id, r) in series_runs(&first, &default_id) {
                per_series.entry(id).or_default().extend_from_slice(&time[r]);
            }
            infer_frequency(per_series.values().map(Vec::as_slice))?
        }
    };
    Ok(Scan {
        batches,
        pending: Some(first),
        format: src.format,
        columns: src.plan.values,
        frequency,
        synthetic,
        policy: spec.missing,
        default_id,
        states: HashMap::new(),
        done: false,
    })
}

impl Scan {
    /// Variate names, [variates].
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The frequency used for spacing checks.
    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    /// The format the file is read as.
    pub fn format(&self) -> Format {
        self.format
    }

    fn process(&mut self, b: &RawBatch) -> Result<Chunk> {
        let n_var = self.columns.len();
        let mut out = Chunk {
            first_row: b.first_row,
            series: Vec::with_capacity(b.len),
            timestamps: Vec::with_capacity(b.len),
            values: vec![Vec::with_capacity(b.len); n_var],
            labels: b.labels.as_ref().map(|_| Vec::with_capacity(b.len)),
        };
        for (id, range) in series_runs(b, &self.default_id) {
            if !self.states.contains_key(id) {
                let st = State {
                    id: Arc::from(id),
                    last: None,
                    grid: 0,
                    seen: 0,
                };
                self.states.insert(id.to_string(), st);
            }
            let st = self.states.get_mut(id).expect("inserted above");
            for i in range {
                let row = b.first_row + i;
                let ts = row_time(b, i, st.seen, self.synthetic, id)?;
                check_order(id, st.last, ts, row)?;
                if let Some((prev, _)) = st.last {
                    let k = grid_steps(id, row, prev, ts, self.frequency)?;
                    if k > 1 && self.policy == MissingPolicy::Error {
                        return Err(Error::MissingValues {
                            column: TIME_GRID.into(),
                            series: id.to_string(),
                            count: k - 1,
                            first_row: st.grid,
                        });
                    }
                    for j in 1..k {
                        out.series.push(st.id.clone());
                        out.timestamps.push(prev + j as i64 * self.frequency.micros);
                        out.values.iter_mut().for_each(|c| c.push(f32::NAN));
                        if let Some(l) = out.labels.as_mut() {
                            l.push(0);
                        }
                        st.grid += 1;
                    }
                }
                for (c, name) in self.columns.iter().enumerate() {
                    let v = b.values[c][i];
                    check_finite(name, id, row, v)?;
                    if v.is_nan() && self.policy == MissingPolicy::Error {
                        return Err(Error::MissingValues {
                            column: name.clone(),
                            series: id.to_string(),
                            count: 1,
                            first_row: st.grid,
                        });
                    }
                    out.values[c].push(v);
                }
                out.series.push(st.id.clone());
                out.timestamps.push(ts);
                if let (Some(l), Some(src)) = (out.labels.as_mut(), &b.labels) {
                    l.push(src[i]);
                }
                st.last = Some((ts, row));
                st.grid += 1;
                st.seen += 1;
            }
        }
        Ok(out)
    }
}

impl Iterator for Scan {
    type Item = Result<Chunk>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let batch = match self.pending.take().map(Ok).or_else(|| self.batches.next()) {
            None => {
                self.done = true;
                return None;
            }
            Some(Err(e)) => {
                self.done = true;
                return Some(Err(e));
            }
            Some(Ok(b)) => b,
        };
        let out = self.process(&batch);
        if out.is_err() {
            self.done = true;
        }
        Some(out)
    }
}
