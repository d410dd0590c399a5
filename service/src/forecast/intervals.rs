//! Forecast quantiles: Gaussian intervals around the point forecast.
//!
//! The `q`-quantile of step `h`, variate `v` is `point[h, v] + z(q) · σ[h, v]`, with `z` the
//! standard normal quantile and `σ[h, v]` the root-mean-square residual of the model on its
//! validation windows at that step and variate, in original units. `statecast train` stores
//! `σ` in the artifact ([`Artifact::residuals`], a
//! [`statecast_models::artifact::ResidualStats`]). For artifacts without it, σ is one value per variate, `sqrt(val MSE) · scale[v]`
//! (the validation MSE is on the scaled axis). Intervals are symmetric and assume unbiased,
//! normally distributed errors; they are as honest as the validation split is representative.
use serde::{Deserialize, Serialize};
use statecast_models::artifact::Artifact;
use statecast_pipelines::scale::ScalerScope;

/// σ per horizon step and variate from validation residuals.
pub const METHOD_RESIDUAL_RMS: &str = "gaussian-val-residual-rms";
/// One σ per variate from the validation MSE.
pub const METHOD_VAL_MSE: &str = "gaussian-val-mse";

/// The residual scale a model version's quantiles are computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalStats {
    /// [`METHOD_RESIDUAL_RMS`] or [`METHOD_VAL_MSE`].
    pub method: String,
    /// Horizon steps H of `sigma`.
    pub horizon: usize,
    /// Variates V of `sigma`.
    pub variates: usize,
    /// σ, [horizon × variates] row-major, original units, every entry finite and ≥ 0.
    pub sigma: Vec<f32>,
}

impl IntervalStats {
    /// The statistics an artifact supports: its per-step residual RMS when present, else its
    /// validation MSE (global scaler only), else `None` (no quantiles).
    pub fn from_artifact(artifact: &Artifact) -> Option<Self> {
        let (h, v) = (artifact.schema.horizon, artifact.schema.columns.len());
        let per_step = artifact
            .residuals
            .as_ref()
            .filter(|s| s.std.len() == h && s.std.iter().all(|row| row.len() == v));
        if let Some(stats) = per_step {
            let sigma: Vec<f32> = stats.std.iter().flatten().copied().collect();
            if sigma.iter().all(|s| s.is_finite() && *s >= 0.0) {
                return Some(Self {
                    method: METHOD_RESIDUAL_RMS.into(),
                    horizon: h,
                    variates: v,
                    sigma,
                });
            }
        }
        let mse = artifact.evaluation.val?.mse;
        let scaler = &artifact.scaler;
        if !mse.is_finite() || mse < 0.0 || scaler.scope != ScalerScope::Global || scaler.scale.len() != v {
            return None;
        }
        let row: Vec<f32> = scaler
            .scale
            .iter()
            .map(|s| (mse.sqrt() * f64::from(*s)).abs() as f32)
            .collect();
        Some(Self {
            method: METHOD_VAL_MSE.into(),
            horizon: h,
            variates: v,
            sigma: row.repeat(h),
        })
    }

    /// The `q`-quantile of the first `horizon` rows of `point` ([horizon × variates]).
    pub fn quantile(&self, point: &[f32], q: f64) -> Vec<f32> {
        let z = normal_quantile(q);
        point
            .iter()
            .zip(&self.sigma)
            .map(|(p, s)| (f64::from(*p) + z * f64::from(*s)) as f32)
            .collect()
    }
}

/// The standard normal quantile Φ⁻¹(p) for p in (0, 1) (P. J. Acklam's rational
/// approximation, relative error below 1.2e-9); ±∞ at 0 and 1.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const P_LOW: f64 = 0.02425;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p < P_LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_tables() {
        for (p, z) in [
            (0.5, 0.0),
            (0.9, 1.281_551_565_5),
            (0.975, 1.959_963_985),
            (0.1, -1.281_551_565_5),
            (0.001, -3.090_232_306),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-6,
                "{p}: {}",
                normal_quantile(p)
            );
        }
    }

    #[test]
    fn quantiles_are_ordered_and_centred() {
        let stats = IntervalStats {
            method: METHOD_RESIDUAL_RMS.into(),
            horizon: 2,
            variates: 2,
            sigma: vec![1.0, 2.0, 0.0, 3.0],
        };
        let point = [10.0, 20.0, 30.0, 40.0];
        let (lo, mid, hi) = (
            stats.quantile(&point, 0.1),
            stats.quantile(&point, 0.5),
            stats.quantile(&point, 0.9),
        );
        for i in 0..4 {
            assert!(lo[i] <= mid[i] && mid[i] <= hi[i]);
            assert!((mid[i] - point[i]).abs() < 1e-5);
        }
        assert_eq!(lo[2], 30.0);
    }
}
