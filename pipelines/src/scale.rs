//! Per-variate scaling fitted on the training rows only.
//!
//! * [`ScalerKind::ZScore`]: `(x − mean) / std` with the **population** standard deviation
//!   (`ddof = 0`, as sklearn's `StandardScaler` used by the LTSF code bases); a zero spread
//!   becomes 1, as in sklearn.
//! * [`ScalerKind::Robust`]: `(x − median) / (IQR / 1.349)`, quantiles by linear interpolation
//!   (numpy's default); a zero spread becomes 1. For normal data `IQR / 1.349 ≈ σ`.
//!
//! Statistics are computed in `f64` and ignore `NaN` (missing values under the mask policy).
//! [`ScalerScope::Global`] pools the rows of all series per variate; [`ScalerScope::PerSeries`]
//! keeps one set of statistics per series id (the pooled statistics are kept as well).
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::TimeFrame;
use crate::split::SplitRanges;

/// The scaling statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ScalerKind {
    /// Mean and population standard deviation (sklearn `StandardScaler`).
    #[default]
    ZScore,
    /// Median and IQR / 1.349.
    Robust,
}

/// Which rows one set of statistics is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ScalerScope {
    /// One set of statistics per variate, pooled over the training rows of all series.
    #[default]
    Global,
    /// One set of statistics per variate and series id.
    PerSeries,
}

/// Statistics of one series (per-series scope), [variates] each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesStats {
    /// Centre (mean or median), [variates].
    pub center: Vec<f32>,
    /// Spread (std or IQR/1.349, never 0), [variates].
    pub scale: Vec<f32>,
}

/// A fitted scaler. `transform`: `x ↦ (x − center) / scale`; `inverse`: `z ↦ z · scale + center`.
/// `NaN` stays `NaN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// The statistic used.
    pub kind: ScalerKind,
    /// Pooled or per series.
    pub scope: ScalerScope,
    /// Variate names the scaler was fitted on, in order.
    pub columns: Vec<String>,
    /// Pooled centre, [variates] (used for every series under [`ScalerScope::Global`]).
    pub center: Vec<f32>,
    /// Pooled spread, [variates], never 0.
    pub scale: Vec<f32>,
    /// Per-series statistics keyed by series id (empty under [`ScalerScope::Global`]).
    #[serde(default)]
    pub per_series: BTreeMap<String, SeriesStats>,
}

impl Scaler {
    /// Fit on the training range of each series: `splits[i].train` is used for series `i`.
    ///
    /// # Errors
    /// As [`fit`](Self::fit).
    pub fn fit_train(
        frame: &TimeFrame,
        kind: ScalerKind,
        scope: ScalerScope,
        splits: &[SplitRanges],
    ) -> Result<Scaler> {
        let rows: Vec<Range<usize>> = splits.iter().map(|s| s.train.clone()).collect();
        Self::fit(frame, kind, scope, &rows)
    }

    /// Fit on `rows[i]` of series `i` (one range per series, [series]); `NaN` is ignored.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `rows` has not one range per series;
    /// [`Error::TooShort`] when a range exceeds its series or a variate has no observed value
    /// in the rows used; [`Error::NonFinite`] for ±inf.
    pub fn fit(
        frame: &TimeFrame,
        kind: ScalerKind,
        scope: ScalerScope,
        rows: &[Range<usize>],
    ) -> Result<Scaler> {
        if rows.len() != frame.series.len() {
            return Err(Error::invalid(
                "scaler rows",
                format!(
                    "{} row ranges given for {} series",
                    rows.len(),
                    frame.series.len()
                ),
            ));
        }
        let n_var = frame.n_variates();
        for (s, r) in frame.series.iter().zip(rows) {
            if r.start > r.end || r.end > s.len() {
                return Err(Error::TooShort {
                    series: s.id.clone(),
                    len: s.len(),
                    needed: r.end,
                    what: format!("fitting the scaler on rows {}..{}", r.start, r.end),
                });
            }
            if s.values.len() != n_var {
                return Err(Error::SchemaMismatch {
                    reason: format!(
                        "series `{}` has {} variates, the frame has {n_var}",
                        s.id,
                        s.values.len()
                    ),
                });
            }
        }
        let mut center = Vec::with_capacity(n_var);
        let mut scale = Vec::with_capacity(n_var);
        let mut per_series: BTreeMap<String, SeriesStats> = BTreeMap::new();
        for c in 0..n_var {
            let column = &frame.columns[c];
            let mut pooled: Vec<f64> = Vec::new();
            for (s, r) in frame.series.iter().zip(rows) {
                let start = pooled.len();
                for (t, &v) in s.values[c][r.clone()].iter().enumerate() {
                    if v.is_nan() {
                        continue;
                    }
                    if !v.is_finite() {
                        return Err(Error::NonFinite {
                            column: column.clone(),
                            series: s.id.clone(),
                            row: r.start + t,
                            value: v.to_string(),
                        });
                    }
                    pooled.push(f64::from(v));
                }
                if scope == ScalerScope::PerSeries {
                    let (m, sd) =
                        stats(kind, &mut pooled[start..]).ok_or_else(|| no_values(&s.id, column, r))?;
                    let e = per_series.entry(s.id.clone()).or_insert_with(|| SeriesStats {
                        center: Vec::new(),
                        scale: Vec::new(),
                    });
                    e.center.push(m as f32);
                    e.scale.push(sd as f32);
                }
            }
            let (m, sd) =
                stats(kind, &mut pooled).ok_or_else(|| no_values("<all series>", column, &(0..0)))?;
            center.push(m as f32);
            scale.push(sd as f32);
        }
        Ok(Scaler {
            kind,
            scope,
            columns: frame.columns.clone(),
            center,
            scale,
            per_series,
        })
    }

    /// Number of variates.
    pub fn n_variates(&self) -> usize {
        self.columns.len()
    }

    /// `Ok` when `columns` equals the fitted columns (same names, same order).
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] naming the first difference.
    pub fn check_columns(&self, columns: &[String]) -> Result<()> {
        if columns == self.columns.as_slice() {
            return Ok(());
        }
        let reason = match self.columns.iter().zip(columns).position(|(a, b)| a != b) {
            Some(i) => format!(
                "scaler was fitted on column `{}` at position {i}, the data has `{}` (fitted: {}; data: {})",
                self.columns[i],
                columns[i],
                self.columns.join(","),
                columns.join(",")
            ),
            None => format!(
                "scaler was fitted on {} columns ({}), the data has {} ({})",
                self.columns.len(),
                self.columns.join(","),
                columns.len(),
                columns.join(",")
            ),
        };
        Err(Error::SchemaMismatch { reason })
    }

    /// `(center, scale)`, [variates] each, used for series `series_id`.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] under [`ScalerScope::PerSeries`] for a series not seen at fit time.
    pub fn stats(&self, series_id: &str) -> Result<(&[f32], &[f32])> {
        match self.scope {
            ScalerScope::Global => Ok((&self.center, &self.scale)),
            ScalerScope::PerSeries => self
                .per_series
                .get(series_id)
                .map(|s| (s.center.as_slice(), s.scale.as_slice()))
                .ok_or_else(|| Error::SchemaMismatch {
                    reason: format!(
                        "series `{series_id}` was not seen when the per-series scaler was fitted"
                    ),
                }),
        }
    }

    /// Scale every series of `frame` in place.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] when the columns differ or (per-series scope) a series is unknown.
    pub fn transform(&self, frame: &mut TimeFrame) -> Result<()> {
        self.check_columns(&frame.columns)?;
        for s in &mut frame.series {
            let (center, scale) = self.stats(&s.id)?;
            for ((col, &m), &sd) in s.values.iter_mut().zip(center).zip(scale) {
                for v in col.iter_mut() {
                    *v = forward(*v, m, sd);
                }
            }
        }
        Ok(())
    }

    /// Undo [`transform`](Self::transform) on every series of `frame` in place.
    ///
    /// # Errors
    /// As [`transform`](Self::transform).
    pub fn inverse(&self, frame: &mut TimeFrame) -> Result<()> {
        self.check_columns(&frame.columns)?;
        for s in &mut frame.series {
            let (center, scale) = self.stats(&s.id)?;
            for ((col, &m), &sd) in s.values.iter_mut().zip(center).zip(scale) {
                for v in col.iter_mut() {
                    *v = backward(*v, m, sd);
                }
            }
        }
        Ok(())
    }

    /// Scale one row in place, `row`: [variates].
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] for a wrong length or (per-series scope) an unknown series.
    pub fn transform_row(&self, series_id: &str, row: &mut [f32]) -> Result<()> {
        self.map_rows(series_id, row, forward)
    }

    /// Undo [`transform_row`](Self::transform_row), `row`: [variates].
    ///
    /// # Errors
    /// As [`transform_row`](Self::transform_row).
    pub fn inverse_row(&self, series_id: &str, row: &mut [f32]) -> Result<()> {
        self.map_rows(series_id, row, backward)
    }

    /// Scale a row-major block in place, `rows`: [time, variates] (e.g. an online window).
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] when the length is not a multiple of the variate count or
    /// (per-series scope) the series is unknown.
    pub fn transform_rows(&self, series_id: &str, rows: &mut [f32]) -> Result<()> {
        self.map_rows(series_id, rows, forward)
    }

    /// Undo the scaling of a row-major block in place, `rows`: [time, variates] (e.g. one
    /// forecast `[horizon, variates]`).
    ///
    /// # Errors
    /// As [`transform_rows`](Self::transform_rows).
    pub fn inverse_rows(&self, series_id: &str, rows: &mut [f32]) -> Result<()> {
        self.map_rows(series_id, rows, backward)
    }

    fn map_rows(&self, series_id: &str, rows: &mut [f32], f: fn(f32, f32, f32) -> f32) -> Result<()> {
        let c = self.n_variates();
        if c == 0 || !rows.len().is_multiple_of(c) {
            return Err(Error::SchemaMismatch {
                reason: format!(
                    "{} values are not whole rows of the scaler's {c} variates",
                    rows.len()
                ),
            });
        }
        let (center, scale) = self.stats(series_id)?;
        for row in rows.chunks_exact_mut(c) {
            for ((v, &m), &sd) in row.iter_mut().zip(center).zip(scale) {
                *v = f(*v, m, sd);
            }
        }
        Ok(())
    }

    /// Write the scaler as JSON to `path`, atomically (temporary file in the same folder,
    /// then rename).
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Json`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let json = serde_json::to_vec_pretty(self).map_err(|source| Error::Json {
            path: path.into(),
            source,
        })?;
        write_atomic(path, &json)
    }

    /// Read a scaler written by [`save`](Self::save).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Json`], or [`Error::SchemaMismatch`] for an inconsistent file
    /// (statistics not one per column, zero or non-finite spread).
    pub fn load(path: impl AsRef<Path>) -> Result<Scaler> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        let s: Scaler = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.into(),
            source,
        })?;
        let n = s.columns.len();
        let ok = |center: &[f32], scale: &[f32]| {
            center.len() == n
                && scale.len() == n
                && center.iter().all(|v| v.is_finite())
                && scale.iter().all(|v| v.is_finite() && *v != 0.0)
        };
        let per_ok = s.per_series.values().all(|p| ok(&p.center, &p.scale));
        if !ok(&s.center, &s.scale)
            || !per_ok
            || (s.scope == ScalerScope::PerSeries && s.per_series.is_empty())
        {
            return Err(Error::SchemaMismatch {
                reason: format!(
                    "{}: scaler statistics are inconsistent with its {n} columns",
                    path.display()
                ),
            });
        }
        Ok(s)
    }
}

fn forward(v: f32, m: f32, sd: f32) -> f32 {
    ((f64::from(v) - f64::from(m)) / f64::from(sd)) as f32
}

fn backward(v: f32, m: f32, sd: f32) -> f32 {
    (f64::from(v) * f64::from(sd) + f64::from(m)) as f32
}

fn no_values(series: &str, column: &str, r: &Range<usize>) -> Error {
    Error::TooShort {
        series: series.to_string(),
        len: 0,
        needed: 1,
        what: format!(
            "fitting the scaler of column `{column}`: no observed value in rows {}..{}",
            r.start, r.end
        ),
    }
}

/// `(center, spread)` of `values` (reordered in place for the robust kind); `None` if empty.
fn stats(kind: ScalerKind, values: &mut [f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let (center, spread) = match kind {
        ScalerKind::ZScore => {
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            (mean, var.sqrt())
        }
        ScalerKind::Robust => {
            values.sort_by(f64::total_cmp);
            let q = |p: f64| quantile_sorted(values, p);
            (q(0.5), (q(0.75) - q(0.25)) / 1.349)
        }
    };
    Some((
        center,
        if spread == 0.0 || !spread.is_finite() {
            1.0
        } else {
            spread
        },
    ))
}

/// Quantile `p` ∈ [0, 1] of sorted, non-empty `v` with linear interpolation (numpy `linear`).
fn quantile_sorted(v: &[f64], p: f64) -> f64 {
    let pos = p * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |p: &Path| {
        let p: PathBuf = p.into();
        move |source| Error::Io { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scaler".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear() {
        // np.quantile([1,2,3,4], [0.25, 0.5, 0.75]) = [1.75, 2.5, 3.25]
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.25), 1.75);
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.75), 3.25);
        assert_eq!(quantile_sorted(&[7.0], 0.3), 7.0);
    }

    #[test]
    fn zero_spread_becomes_one() {
        assert_eq!(stats(ScalerKind::ZScore, &mut [3.0, 3.0, 3.0]), Some((3.0, 1.0)));
        assert_eq!(
            stats(ScalerKind::Robust, &mut [1.0, 3.0, 3.0, 3.0, 9.0]),
            Some((3.0, 1.0))
        );
        assert_eq!(stats(ScalerKind::ZScore, &mut []), None);
    }

    #[test]
    fn population_std() {
        let (m, s) = stats(ScalerKind::ZScore, &mut [1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m, 2.5);
        assert!((s - 1.25f64.sqrt()).abs() < 1e-15);
    }
}
