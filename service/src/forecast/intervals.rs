//! Forecast quantiles from a model version's validation residuals.
//!
//! Two methods, chosen by what the artifact holds ([`IntervalStats::from_artifact`]):
//!
//! - **Split-conformal** ([`METHOD_CONFORMAL`], artifacts written since it exists): the
//!   `q`-quantile of step `h`, variate `v` is `point[h, v] + r_q[h, v] · scale[v]`, with `r_q` the
//!   conformal quantile of the validation residuals `actual − forecast` at that step and variate
//!   on the scaled axis and `scale` the series' scaler
//!   ([`statecast_models::conformal`]: finite-sample order statistics, each tail from its own, so
//!   intervals are asymmetric when the residuals are; levels between the stored grid
//!   interpolated in normal scores).
//! - **Gaussian** ([`METHOD_RESIDUAL_RMS`]): `point[h, v] + z(q) · σ[h, v]`, `z` the standard
//!   normal quantile and `σ[h, v]` the root-mean-square validation residual in original units;
//!   for artifacts without per-step statistics one σ per variate, `sqrt(val MSE) · scale[v]`
//!   ([`METHOD_VAL_MSE`], the validation MSE being on the scaled axis). Symmetric, and assuming
//!   normal, unbiased errors.
//!
//! Either is as honest as the validation split is representative of what follows it; `statecast
//! eval` measures both on the test split (coverage and weighted quantile loss).
use serde::{Deserialize, Serialize};
use statecast_models::artifact::Artifact;
use statecast_models::conformal::ResidualQuantiles;
pub use statecast_models::conformal::normal_quantile;
use statecast_pipelines::scale::ScalerScope;

/// Split-conformal quantiles of the validation residuals per horizon step and variate.
pub const METHOD_CONFORMAL: &str = "split-conformal-val";
/// σ per horizon step and variate from validation residuals.
pub const METHOD_RESIDUAL_RMS: &str = "gaussian-val-residual-rms";
/// One σ per variate from the validation MSE.
pub const METHOD_VAL_MSE: &str = "gaussian-val-mse";

/// What a model version's quantiles are computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalStats {
    /// [`METHOD_CONFORMAL`], [`METHOD_RESIDUAL_RMS`] or [`METHOD_VAL_MSE`].
    pub method: String,
    /// Horizon steps H of `sigma`.
    pub horizon: usize,
    /// Variates V of `sigma`.
    pub variates: usize,
    /// σ, [horizon × variates] row-major, original units, every entry finite and ≥ 0.
    pub sigma: Vec<f32>,
    /// The conformal grid ([`METHOD_CONFORMAL`] only). The registry's version rows keep the
    /// method and σ without it (the grid is read from the artifact when the model loads), so
    /// quantiles are computed from the loaded model's statistics, never from a version row's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<ResidualQuantiles>,
}

impl IntervalStats {
    /// The statistics an artifact supports: its conformal grid with per-step residual RMS when
    /// both are present and consistent, else the RMS alone (Gaussian), else its validation MSE
    /// (global scaler only), else `None` (no quantiles).
    pub fn from_artifact(artifact: &Artifact) -> Option<Self> {
        let (h, v) = (artifact.schema.horizon, artifact.schema.columns.len());
        let per_step = artifact
            .residuals
            .as_ref()
            .filter(|s| s.std.len() == h && s.std.iter().all(|row| row.len() == v));
        if let Some(stats) = per_step {
            let sigma: Vec<f32> = stats.std.iter().flatten().copied().collect();
            if sigma.iter().all(|s| s.is_finite() && *s >= 0.0) {
                let grid = artifact
                    .residual_quantiles
                    .as_ref()
                    .filter(|g| g.horizon == h && g.variates == v && g.is_valid());
                return Some(Self {
                    method: if grid.is_some() { METHOD_CONFORMAL } else { METHOD_RESIDUAL_RMS }.into(),
                    horizon: h,
                    variates: v,
                    sigma,
                    grid: grid.cloned(),
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
            grid: None,
        })
    }

    /// Gaussian statistics with σ `[H][V]` (e.g. a [`statecast_models::artifact::ResidualStats`]'s).
    pub fn gaussian(std: &[Vec<f32>]) -> Self {
        Self {
            method: METHOD_RESIDUAL_RMS.into(),
            horizon: std.len(),
            variates: std.first().map_or(0, Vec::len),
            sigma: std.iter().flatten().copied().collect(),
            grid: None,
        }
    }

    /// Conformal statistics from σ `[H][V]` and a grid of the same shape.
    pub fn conformal(std: &[Vec<f32>], grid: ResidualQuantiles) -> Self {
        Self {
            method: METHOD_CONFORMAL.into(),
            grid: Some(grid),
            ..Self::gaussian(std)
        }
    }

    /// The same method and σ without the grid: what a registry version row stores.
    pub fn summary(&self) -> Self {
        Self {
            grid: None,
            ..self.clone()
        }
    }

    /// The `q`-quantile of the first `horizon` rows of `point` ([horizon × variates], original
    /// units) of a series whose scaler has `scale` ([variates]; the conformal grid is on the
    /// scaled axis, σ in original units).
    pub fn quantile(&self, point: &[f32], q: f64, scale: &[f32]) -> Vec<f32> {
        match &self.grid {
            Some(grid) => point
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let (h, v) = (i / self.variates.max(1), i % self.variates.max(1));
                    let unit = scale.get(v).copied().unwrap_or(1.0);
                    (f64::from(*p) + grid.offset(h, v, q) * f64::from(unit)) as f32
                })
                .collect(),
            None => {
                let z = normal_quantile(q);
                point
                    .iter()
                    .zip(&self.sigma)
                    .map(|(p, s)| (f64::from(*p) + z * f64::from(*s)) as f32)
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_ordered_and_centred() {
        let stats = IntervalStats {
            method: METHOD_RESIDUAL_RMS.into(),
            horizon: 2,
            variates: 2,
            sigma: vec![1.0, 2.0, 0.0, 3.0],
            grid: None,
        };
        let point = [10.0, 20.0, 30.0, 40.0];
        let (lo, mid, hi) = (
            stats.quantile(&point, 0.1, &[1.0, 1.0]),
            stats.quantile(&point, 0.5, &[1.0, 1.0]),
            stats.quantile(&point, 0.9, &[1.0, 1.0]),
        );
        for i in 0..4 {
            assert!(lo[i] <= mid[i] && mid[i] <= hi[i]);
            assert!((mid[i] - point[i]).abs() < 1e-5);
        }
        assert_eq!(lo[2], 30.0);
    }
}
