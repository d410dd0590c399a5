//! From raw features to per-variate and aggregated scores, with statistics fitted on the
//! training rows: each feature `f[v, c]` becomes `|f − μ[v, c]| / σ[v, c]` (clipped at
//! [`Z_CLIP`]), a variate's score is the largest of its components, and the aggregate combines
//! the variates ([`Aggregate`]). Features that were constant on the training rows (σ at its
//! floor) are left out of the score: there is no normal behaviour to compare them with, and on
//! SMD such channels otherwise saturate every test score.
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Largest normalised feature (keeps a channel that was constant in training from dominating
/// without bound).
pub const Z_CLIP: f32 = 50.0;
/// Smallest σ used (scaled axis).
const MIN_STD: f64 = 1e-2;

/// How per-variate scores combine into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The largest variate score (single-sensor anomalies stand out).
    #[default]
    Max,
    /// Root mean square over variates (broad anomalies).
    Rms,
}

impl Aggregate {
    /// The names [`Aggregate::from_str`](std::str::FromStr::from_str) accepts, in variant order.
    pub const NAMES: [&'static str; 2] = ["max", "rms"];
}

impl std::str::FromStr for Aggregate {
    type Err = String;

    /// `max` or `rms` (the serde names).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "max" => Ok(Self::Max),
            "rms" => Ok(Self::Rms),
            other => Err(format!("unknown aggregate {other:?}: expected max or rms")),
        }
    }
}

/// Per-(variate, component) mean and standard deviation of training features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normaliser {
    /// Variates.
    pub n_variates: usize,
    /// Components per variate.
    pub n_components: usize,
    /// Means, [variates × components].
    pub mean: Vec<f32>,
    /// Standard deviations (≥ 0.01), [variates × components].
    pub std: Vec<f32>,
    /// Aggregation over variates.
    pub aggregate: Aggregate,
    /// Components whose evidence is shared between variates (the cross-variate residual: an
    /// anomaly in one sensor raises the residual of every sensor predicted from it). They count
    /// at [`SHARED_WEIGHT`] in the attribution, so a variate's own components break the tie.
    #[serde(default)]
    pub shared: Vec<usize>,
    /// Components where only values above the centre are anomalous (running variances: a
    /// residual that is quieter than usual, e.g. a machine idling with less measurement noise,
    /// is no incident). Their score is `max(0, f − μ) / σ`.
    #[serde(default)]
    pub upper_only: Vec<usize>,
}

/// Weight of a shared component in the attribution.
pub const SHARED_WEIGHT: f32 = 0.5;

/// The score of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct PointScore {
    /// Per-variate scores, [variates] (0 where nothing is available).
    pub per_variate: Vec<f32>,
    /// The aggregate (NaN during warm-up, when no feature is available).
    pub aggregate: f32,
    /// Per-variate evidence for the alarm attribution, [variates]: like `per_variate`, with
    /// shared components at [`SHARED_WEIGHT`].
    pub attribution: Vec<f32>,
}

impl Normaliser {
    /// Fit on training feature rows, each [variates × components]: per feature, the mean and
    /// the standard deviation (floored at 0.01). A median/MAD version was tried: it is robust to
    /// incidents in the training rows, but on ASD it let heavy-tailed features dominate the
    /// maximum and lowered linear's VUS-PR from 0.41 to 0.24 (BENCHMARKS.md §9); incidents are
    /// kept out of fitting by their labels and by the trimmed threshold instead.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when there is no row or a row has the wrong length.
    pub fn fit<'a>(
        rows: impl IntoIterator<Item = &'a [f32]>,
        n_variates: usize,
        n_components: usize,
        aggregate: Aggregate,
    ) -> Result<Self> {
        let n = n_variates * n_components;
        let mut cols: Vec<Vec<f64>> = vec![Vec::new(); n];
        for r in rows {
            if r.len() != n {
                return Err(Error::InvalidArgument {
                    field: "features".into(),
                    reason: format!("a feature row has {} values, expected {n}", r.len()),
                });
            }
            for (i, &x) in r.iter().enumerate() {
                if x.is_finite() {
                    cols[i].push(f64::from(x));
                }
            }
        }
        if cols.iter().all(Vec::is_empty) {
            return Err(Error::InvalidArgument {
                field: "features".into(),
                reason: "no training row has a finite feature (series shorter than the look-back?)".into(),
            });
        }
        let mut mean = vec![0f32; n];
        let mut std = vec![1f32; n];
        for (i, c) in cols.iter().enumerate() {
            if !c.is_empty() {
                let m = c.iter().sum::<f64>() / c.len() as f64;
                let v = c.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / c.len() as f64;
                mean[i] = m as f32;
                std[i] = v.sqrt().max(MIN_STD) as f32;
            }
        }
        Ok(Self {
            n_variates,
            n_components,
            mean,
            std,
            aggregate,
            shared: Vec::new(),
            upper_only: Vec::new(),
        })
    }

    /// Score one feature row ([variates × components]).
    pub fn score(&self, f: &[f32]) -> PointScore {
        let nc = self.n_components;
        let mut any = false;
        let mut attribution = vec![0f32; self.n_variates];
        let per_variate: Vec<f32> = (0..self.n_variates)
            .map(|v| {
                let mut best = 0f32;
                for c in 0..nc {
                    let i = v * nc + c;
                    if self.std[i] <= MIN_STD as f32 {
                        // Constant in training: no learned normal behaviour to compare with.
                        continue;
                    }
                    let d = f[i] - self.mean[i];
                    let d = if self.upper_only.contains(&c) {
                        d.max(0.0)
                    } else {
                        d.abs()
                    };
                    let z = d / self.std[i];
                    if z.is_finite() {
                        any = true;
                        let z = z.min(Z_CLIP);
                        best = best.max(z);
                        let w = if self.shared.contains(&c) {
                            SHARED_WEIGHT
                        } else {
                            1.0
                        };
                        attribution[v] = attribution[v].max(w * z);
                    }
                }
                best
            })
            .collect();
        let aggregate = if !any {
            f32::NAN
        } else {
            match self.aggregate {
                Aggregate::Max => per_variate.iter().copied().fold(0.0, f32::max),
                Aggregate::Rms => {
                    (per_variate.iter().map(|s| s * s).sum::<f32>() / per_variate.len() as f32).sqrt()
                }
            }
        };
        PointScore {
            per_variate,
            aggregate,
            attribution,
        }
    }
}

/// Calibration of aggregate scores to robust z-scores fitted on a validation split:
/// `z = (a − median) / (1.4826 · MAD)`, comparable across series and models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Median of the validation aggregates.
    pub median: f64,
    /// 1.4826 × median absolute deviation (1.2533 × mean absolute deviation when the MAD is 0; ≥ 1e-3).
    pub scale: f64,
}

impl Calibration {
    /// Fit on validation aggregates (NaN ignored).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when no score is finite.
    pub fn fit(scores: &[f64]) -> Result<Self> {
        let finite: Vec<f64> = scores.iter().copied().filter(|x| x.is_finite()).collect();
        let (median, scale) = robust_centre_scale(&finite).ok_or_else(|| Error::InvalidArgument {
            field: "validation".into(),
            reason: "no finite validation score to calibrate on (validation split too short?)".into(),
        })?;
        Ok(Self {
            median,
            scale: scale.max(1e-3),
        })
    }

    /// The calibrated score.
    pub fn apply(&self, a: f64) -> f64 {
        (a - self.median) / self.scale
    }
}

/// Median and robust standard deviation (`1.4826 · MAD`; `1.2533 ·` the mean absolute deviation
/// from the median when the MAD is 0) of finite `values`; `None` when there is none.
pub fn robust_centre_scale(values: &[f64]) -> Option<(f64, f64)> {
    let med = super::threshold::quantile(values, 0.5)?;
    let dev: Vec<f64> = values
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| (x - med).abs())
        .collect();
    let mad = super::threshold::quantile(&dev, 0.5).unwrap_or(0.0);
    let mean_dev = dev.iter().sum::<f64>() / dev.len().max(1) as f64;
    let scale = if mad > 1e-9 {
        1.4826 * mad
    } else {
        1.2533 * mean_dev
    };
    Some((med, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_names_parse_to_their_variants_and_match_serde() {
        for name in Aggregate::NAMES {
            let a: Aggregate = name.parse().unwrap();
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{name}\""));
        }
        assert_eq!("rms".parse::<Aggregate>(), Ok(Aggregate::Rms));
        assert_eq!(
            "mean".parse::<Aggregate>(),
            Err("unknown aggregate \"mean\": expected max or rms".to_string())
        );
    }

    #[test]
    fn normalises_with_training_stats_and_aggregates() {
        // 2 variates × 1 component; training: v0 ~ {−1, 1} (σ 1), v1 constant 5 (σ floored).
        let rows = [vec![-1.0, 5.0], vec![1.0, 5.0]];
        let n = Normaliser::fit(rows.iter().map(|r| r.as_slice()), 2, 1, Aggregate::Max).unwrap();
        assert_eq!(n.mean, vec![0.0, 5.0]);
        assert!((n.std[0] - 1.0).abs() < 1e-6 && (n.std[1] - 0.01).abs() < 1e-6);
        let s = n.score(&[3.0, 5.0]);
        assert!((s.per_variate[0] - 3.0).abs() < 1e-5 && s.per_variate[1] == 0.0);
        assert_eq!(s.aggregate, s.per_variate[0]);
        // A constant-in-training channel is left out; large values are clipped.
        assert_eq!(n.score(&[0.0, 100.0]).per_variate[1], 0.0);
        assert_eq!(n.score(&[1e6, 5.0]).per_variate[0], Z_CLIP);
        assert!(n.score(&[f32::NAN, f32::NAN]).aggregate.is_nan());
        // One-sided components score only values above the centre.
        let up = Normaliser {
            upper_only: vec![0],
            ..n.clone()
        };
        assert_eq!(up.score(&[-3.0, 5.0]).per_variate[0], 0.0);
        assert!((up.score(&[3.0, 5.0]).per_variate[0] - 3.0).abs() < 1e-5);
        let rms = Normaliser {
            aggregate: Aggregate::Rms,
            ..n
        };
        let s = rms.score(&[3.0, 5.0]);
        assert!((s.aggregate - (4.5f32).sqrt()).abs() < 1e-5);
    }

    #[test]
    fn calibration_is_a_robust_z() {
        let c = Calibration::fit(&[1.0, 2.0, 3.0, 4.0, 100.0, f64::NAN]).unwrap();
        assert_eq!(c.median, 3.0);
        assert!((c.scale - 1.4826).abs() < 1e-9);
        assert!((c.apply(4.4826) - 1.0).abs() < 1e-9);
        assert!(Calibration::fit(&[f64::NAN]).is_err());
    }
}
