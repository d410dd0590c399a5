//! Collecting raw batches into per-series columns, validating order and finiteness on the way.
use std::collections::HashMap;

use super::raw::{RawBatch, Runs};
use crate::error::{Error, Result};
use crate::frame::{Frequency, Micros, Series};
use crate::validate::{check_finite, check_order};

/// One series being collected, with the file row of every timestamp.
#[derive(Debug)]
pub(crate) struct SeriesAcc {
    pub(crate) series: Series,
    /// File data row of each timestamp, [time].
    pub(crate) rows: Vec<usize>,
}

/// The runs of series ids of a batch (one run with `default_id` when there is no column).
pub(crate) fn series_runs<'a>(
    b: &'a RawBatch,
    default_id: &'a str,
) -> Vec<(&'a str, std::ops::Range<usize>)> {
    match &b.series {
        Some(r) => r.ranges().collect(),
        None => vec![(default_id, 0..b.len)],
    }
}

/// Timestamp of row `i` of `b` in `series`; `n_before` = rows of this series already seen
/// (synthetic index `n_before · synthetic`, an [`Error::TimestampOverflow`] when it does not fit).
pub(crate) fn row_time(
    b: &RawBatch,
    i: usize,
    n_before: usize,
    synthetic: Frequency,
    series: &str,
) -> Result<Micros> {
    match &b.time {
        Some(t) => Ok(t[i]),
        None => i64::try_from(n_before)
            .ok()
            .and_then(|k| synthetic.checked_offset(0, k))
            .ok_or_else(|| Error::TimestampOverflow {
                series: series.to_string(),
                row: b.first_row + i,
                what: format!("the synthetic timestamp {n_before} × {synthetic}"),
            }),
    }
}

/// Wide (and long without a variable column) layout: one file row = one series row.
#[derive(Debug, Default)]
pub(crate) struct WideAcc {
    pub(crate) list: Vec<SeriesAcc>,
    index: HashMap<String, usize>,
    /// Drop rows whose timestamp is not after the previous kept row (else error).
    pub(crate) drop_non_increasing: bool,
    /// Rows dropped so.
    pub(crate) dropped: usize,
}

impl WideAcc {
    /// Append a batch. `columns`: variate names, for errors.
    pub(crate) fn push(
        &mut self,
        b: &RawBatch,
        columns: &[String],
        default_id: &str,
        synthetic: Frequency,
    ) -> Result<()> {
        for (id, range) in series_runs(b, default_id) {
            let k = match self.index.get(id) {
                Some(&k) => k,
                None => {
                    self.index.insert(id.to_string(), self.list.len());
                    self.list.push(SeriesAcc {
                        series: Series {
                            id: id.to_string(),
                            timestamps: Vec::new(),
                            values: vec![Vec::new(); columns.len()],
                            labels: b.labels.as_ref().map(|_| Vec::new()),
                        },
                        rows: Vec::new(),
                    });
                    self.list.len() - 1
                }
            };
            let acc = &mut self.list[k];
            let s = &mut acc.series;
            let mut keep = Vec::with_capacity(range.len());
            for i in range.clone() {
                let row = b.first_row + i;
                let ts = row_time(b, i, s.timestamps.len(), synthetic, id)?;
                let prev = s.timestamps.last().copied().zip(acc.rows.last().copied());
                if self.drop_non_increasing && prev.is_some_and(|(p, _)| ts <= p) {
                    self.dropped += 1;
                    keep.push(false);
                    continue;
                }
                check_order(id, prev, ts, row)?;
                s.timestamps.push(ts);
                acc.rows.push(row);
                keep.push(true);
            }
            let all = keep.iter().all(|k| *k);
            for ((col, out), name) in b.values.iter().zip(s.values.iter_mut()).zip(columns) {
                for i in range.clone() {
                    check_finite(name, id, b.first_row + i, col[i])?;
                }
                if all {
                    out.extend_from_slice(&col[range.clone()]);
                } else {
                    out.extend(
                        col[range.clone()]
                            .iter()
                            .zip(&keep)
                            .filter(|(_, k)| **k)
                            .map(|(v, _)| *v),
                    );
                }
            }
            if let (Some(l), Some(out)) = (&b.labels, s.labels.as_mut()) {
                out.extend(
                    l[range.clone()]
                        .iter()
                        .zip(&keep)
                        .filter(|(_, k)| **k)
                        .map(|(v, _)| *v),
                );
            }
        }
        Ok(())
    }
}

/// One (series, variable) track of a long file with a variable column.
#[derive(Debug)]
struct Track {
    series: usize,
    variable: usize,
    timestamps: Vec<Micros>,
    rows: Vec<usize>,
    values: Vec<f32>,
    labels: Vec<u8>,
}

/// Long layout with a variable column: rows may come in any grouping (e.g. variable-major,
/// as `melt` writes them) as long as each (series, variable) track is sorted.
#[derive(Debug, Default)]
pub(crate) struct PivotAcc {
    series: Vec<String>,
    series_index: HashMap<String, usize>,
    /// Variables in order of first appearance: the frame's columns.
    pub(crate) variables: Vec<String>,
    variable_index: HashMap<String, usize>,
    tracks: Vec<Track>,
    track_index: HashMap<(usize, usize), usize>,
    has_labels: bool,
    /// Drop rows whose timestamp is not after the previous kept row of the track (else error).
    pub(crate) drop_non_increasing: bool,
    /// Rows dropped so.
    pub(crate) dropped: usize,
}

fn intern(list: &mut Vec<String>, index: &mut HashMap<String, usize>, s: &str) -> usize {
    if let Some(&k) = index.get(s) {
        return k;
    }
    index.insert(s.to_string(), list.len());
    list.push(s.to_string());
    list.len() - 1
}

impl PivotAcc {
    /// Append a batch; `value_column` names the value column for errors.
    pub(crate) fn push(&mut self, b: &RawBatch, value_column: &str) -> Result<()> {
        let empty = Runs::default();
        let series = b.series.as_ref().unwrap_or(&empty);
        let variables = b.variable.as_ref().unwrap_or(&empty);
        let time = b.time.as_deref().unwrap_or(&[]);
        self.has_labels = b.labels.is_some();
        // Walk the two run lists together: every maximal range with a constant pair.
        let sr: Vec<_> = series.ranges().collect();
        let vr: Vec<_> = variables.ranges().collect();
        let (mut a, mut c, mut start) = (0, 0, 0);
        while start < b.len {
            let (sname, srange) = (sr[a].0, sr[a].1.clone());
            let (var, vrange) = (vr[c].0, vr[c].1.clone());
            let end = srange.end.min(vrange.end);
            if srange.end == end {
                a += 1;
            }
            if vrange.end == end {
                c += 1;
            }
            let sid = intern(&mut self.series, &mut self.series_index, sname);
            let vid = intern(&mut self.variables, &mut self.variable_index, var);
            let t = match self.track_index.get(&(sid, vid)) {
                Some(&t) => t,
                None => {
                    self.track_index.insert((sid, vid), self.tracks.len());
                    self.tracks.push(Track {
                        series: sid,
                        variable: vid,
                        timestamps: Vec::new(),
                        rows: Vec::new(),
                        values: Vec::new(),
                        labels: Vec::new(),
                    });
                    self.tracks.len() - 1
                }
            };
            let track = &mut self.tracks[t];
            let name = &self.series[sid];
            for i in start..end {
                let row = b.first_row + i;
                let prev = track.timestamps.last().copied().zip(track.rows.last().copied());
                if prev.is_some_and(|(p, _)| time[i] <= p) {
                    if self.drop_non_increasing {
                        self.dropped += 1;
                        continue;
                    }
                    check_order(&format!("{name}/{var}"), prev, time[i], row)?;
                }
                check_finite(value_column, name, row, b.values[0][i])?;
                track.timestamps.push(time[i]);
                track.rows.push(row);
                track.values.push(b.values[0][i]);
                if let Some(l) = &b.labels {
                    track.labels.push(l[i]);
                }
            }
            start = end;
        }
        Ok(())
    }

    /// Pivot every series onto the union of its tracks' timestamps; a variable without a row
    /// at some timestamp is a missing value there. Labels: 1 if any row at that time says 1.
    pub(crate) fn finish(self) -> Vec<SeriesAcc> {
        let n_vars = self.variables.len();
        let mut by_series: Vec<Vec<Track>> = (0..self.series.len()).map(|_| Vec::new()).collect();
        for t in self.tracks {
            by_series[t.series].push(t);
        }
        by_series
            .into_iter()
            .zip(self.series)
            .map(|(tracks, id)| {
                let mut grid: Vec<(Micros, usize)> = tracks
                    .iter()
                    .flat_map(|t| t.timestamps.iter().copied().zip(t.rows.iter().copied()))
                    .collect();
                grid.sort_unstable();
                grid.dedup_by_key(|(ts, _)| *ts);
                let timestamps: Vec<Micros> = grid.iter().map(|g| g.0).collect();
                let rows = grid.iter().map(|g| g.1).collect();
                let mut values = vec![vec![f32::NAN; timestamps.len()]; n_vars];
                let mut labels = self.has_labels.then(|| vec![0u8; timestamps.len()]);
                for t in &tracks {
                    let mut g = 0;
                    for (k, &ts) in t.timestamps.iter().enumerate() {
                        while timestamps[g] < ts {
                            g += 1;
                        }
                        values[t.variable][g] = t.values[k];
                        if let Some(l) = labels.as_mut() {
                            l[g] = l[g].max(t.labels[k]);
                        }
                    }
                }
                SeriesAcc {
                    series: Series {
                        id,
                        timestamps,
                        values,
                        labels,
                    },
                    rows,
                }
            })
            .collect()
    }
}
