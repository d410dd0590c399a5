//! Missing-value policy: what to do with nulls, empty CSV cells, `NaN` and rows inserted for
//! gaps in the time grid.
//!
//! The policy is applied per series and per column, after gap rows have been inserted (see
//! [`crate::validate::regularize`]), so a fill never crosses from one series into another.
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How missing values are handled. Parsed from `error`, `ffill`, `linear` or `mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Any missing value is an [`Error::MissingValues`] (the default).
    #[default]
    Error,
    /// Carry the last observed value forward. A *leading* run of missing values (before the
    /// first observation of the column in that series) is back-filled with the first
    /// observed value.
    #[serde(rename = "ffill")]
    ForwardFill,
    /// Linear interpolation (in grid-step units) between the observed neighbours; leading and
    /// trailing runs are extended flat from the nearest observation.
    Linear,
    /// Keep missing values as `NaN` for the model to mask.
    Mask,
}

impl MissingPolicy {
    /// The configuration name: `error`, `ffill`, `linear` or `mask`.
    pub fn as_str(self) -> &'static str {
        match self {
            MissingPolicy::Error => "error",
            MissingPolicy::ForwardFill => "ffill",
            MissingPolicy::Linear => "linear",
            MissingPolicy::Mask => "mask",
        }
    }
}

impl std::fmt::Display for MissingPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MissingPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(MissingPolicy::Error),
            "ffill" | "forward_fill" | "forwardfill" => Ok(MissingPolicy::ForwardFill),
            "linear" => Ok(MissingPolicy::Linear),
            "mask" => Ok(MissingPolicy::Mask),
            other => Err(Error::invalid(
                "missing-value policy",
                format!("{other:?} (expected error, ffill, linear or mask)"),
            )),
        }
    }
}

/// Missing values found in one column of one series and how they were handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMissing {
    /// Variate column.
    pub column: String,
    /// Series id.
    pub series: String,
    /// Number of missing values (including cells of rows inserted for gaps).
    pub count: usize,
    /// The policy that handled them.
    pub filled_by: MissingPolicy,
}

/// Apply `policy` to one series column in place. `values`: [time], `NaN` = missing.
///
/// Returns the number of missing values found. Errors: [`Error::MissingValues`] under
/// [`MissingPolicy::Error`]; [`Error::Unfillable`] when the column is entirely missing under
/// `ffill` or `linear`.
pub fn fill_column(values: &mut [f32], policy: MissingPolicy, column: &str, series: &str) -> Result<usize> {
    let count = values.iter().filter(|v| v.is_nan()).count();
    if count == 0 {
        return Ok(0);
    }
    let unfillable = || Error::Unfillable {
        column: column.to_string(),
        series: series.to_string(),
        reason: format!("all {} values are missing", values.len()),
    };
    match policy {
        MissingPolicy::Error => {
            let first_row = values.iter().position(|v| v.is_nan()).unwrap_or(0);
            return Err(Error::MissingValues {
                column: column.to_string(),
                series: series.to_string(),
                count,
                first_row,
            });
        }
        MissingPolicy::Mask => {}
        MissingPolicy::ForwardFill => {
            let first = values
                .iter()
                .copied()
                .find(|v| !v.is_nan())
                .ok_or_else(unfillable)?;
            let mut last = first;
            for v in values.iter_mut() {
                if v.is_nan() {
                    *v = last;
                } else {
                    last = *v;
                }
            }
        }
        MissingPolicy::Linear => {
            let observed: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
            let (&first, &last) = observed.first().zip(observed.last()).ok_or_else(unfillable)?;
            let (head, tail) = (values[first], values[last]);
            values[..first].fill(head);
            values[last + 1..].fill(tail);
            for pair in observed.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                if b - a < 2 {
                    continue;
                }
                let (va, vb) = (f64::from(values[a]), f64::from(values[b]));
                let span = (b - a) as f64;
                for (j, v) in values[a + 1..b].iter_mut().enumerate() {
                    *v = (va + (vb - va) * ((j + 1) as f64 / span)) as f32;
                }
            }
        }
    }
    Ok(count)
}

/// Apply `policy` to every column of one series. `values`: [variates][time]; `columns` names
/// the variates. Returns one [`ColumnMissing`] per column that had missing values.
pub fn fill_series(
    values: &mut [Vec<f32>],
    columns: &[String],
    series: &str,
    policy: MissingPolicy,
) -> Result<Vec<ColumnMissing>> {
    let mut report = Vec::new();
    for (col, name) in values.iter_mut().zip(columns) {
        let count = fill_column(col, policy, name, series)?;
        if count > 0 {
            report.push(ColumnMissing {
                column: name.clone(),
                series: series.to_string(),
                count,
                filled_by: policy,
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: f32 = f32::NAN;

    fn fill(v: &[f32], p: MissingPolicy) -> Result<Vec<f32>> {
        let mut v = v.to_vec();
        fill_column(&mut v, p, "x", "s")?;
        Ok(v)
    }

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn parse_policies() {
        assert_eq!(
            "ffill".parse::<MissingPolicy>().unwrap(),
            MissingPolicy::ForwardFill
        );
        assert_eq!("Linear".parse::<MissingPolicy>().unwrap(), MissingPolicy::Linear);
        assert_eq!("mask".parse::<MissingPolicy>().unwrap(), MissingPolicy::Mask);
        assert_eq!("error".parse::<MissingPolicy>().unwrap(), MissingPolicy::Error);
        assert!(matches!(
            "drop".parse::<MissingPolicy>(),
            Err(Error::InvalidConfig { .. })
        ));
        let json = serde_json::to_string(&MissingPolicy::ForwardFill).unwrap();
        assert_eq!(json, "\"ffill\"");
        assert_eq!(
            serde_json::from_str::<MissingPolicy>("\"linear\"").unwrap(),
            MissingPolicy::Linear
        );
    }

    #[test]
    fn forward_fill_backfills_leading_run() {
        let got = fill(&[N, N, 2.0, N, 5.0, N], MissingPolicy::ForwardFill).unwrap();
        assert!(same(&got, &[2.0, 2.0, 2.0, 2.0, 5.0, 5.0]), "{got:?}");
    }

    #[test]
    fn linear_interpolates_and_extends_flat() {
        let got = fill(&[N, 1.0, N, N, 4.0, N, N], MissingPolicy::Linear).unwrap();
        assert!(same(&got, &[1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0]), "{got:?}");
    }

    #[test]
    fn mask_keeps_nan_and_counts() {
        let mut v = vec![1.0, N, 3.0];
        assert_eq!(fill_column(&mut v, MissingPolicy::Mask, "x", "s").unwrap(), 1);
        assert!(same(&v, &[1.0, N, 3.0]));
    }

    #[test]
    fn error_policy_reports_count_and_first_row() {
        match fill(&[1.0, N, 3.0, N], MissingPolicy::Error) {
            Err(Error::MissingValues {
                column,
                series,
                count,
                first_row,
            }) => {
                assert_eq!(
                    (column.as_str(), series.as_str(), count, first_row),
                    ("x", "s", 2, 1)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn all_missing_is_unfillable() {
        for p in [MissingPolicy::ForwardFill, MissingPolicy::Linear] {
            assert!(matches!(fill(&[N, N], p), Err(Error::Unfillable { .. })), "{p}");
        }
        assert!(fill(&[N, N], MissingPolicy::Mask).is_ok());
    }
}
