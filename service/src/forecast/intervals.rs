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
/// Split-conformal quantiles of the validation residuals divided by their look-back window's
/// volatility, multiplied back by the forecast window's.
pub const METHOD_CONFORMAL_LOCAL: &str = "split-conformal-val-local";
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
                    method: grid.map_or(METHOD_RESIDUAL_RMS, conformal_method).into(),
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

    /// Conformal statistics from σ `[H][V]` and a grid of the same shape (locally adaptive
    /// when the grid has a volatility floor).
    pub fn conformal(std: &[Vec<f32>], grid: ResidualQuantiles) -> Self {
        Self {
            method: conformal_method(&grid).into(),
            grid: Some(grid),
            ..Self::gaussian(std)
        }
    }

    /// Whether quantiles depend on the forecast window's volatility ([`Self::units`]).
    pub fn needs_volatility(&self) -> bool {
        self.grid.as_ref().is_some_and(|g| g.volatility_floor.is_some())
    }

    /// The same method and σ without the grid: what a registry version row stores.
    pub fn summary(&self) -> Self {
        Self {
            grid: None,
            ..self.clone()
        }
    }

    /// The offsets of the `q`-quantiles from the point forecast, `[horizon × variates]`, in
    /// units that [`Self::units`] turns into original ones (Gaussian: already original units).
    pub fn offsets(&self, q: f64) -> Vec<f64> {
        let v_n = self.variates.max(1);
        match &self.grid {
            Some(grid) => (0..self.horizon * self.variates)
                .map(|i| grid.offset(i / v_n, i % v_n, q))
                .collect(),
            None => {
                let z = normal_quantile(q);
                self.sigma.iter().map(|s| z * f64::from(*s)).collect()
            }
        }
    }

    /// What each variate's [`Self::offsets`] are multiplied by for a series whose scaler has
    /// `scale` ([variates]) and whose look-back window has `volatility` on the scaled axis
    /// ([variates], [`statecast_models::conformal::window_volatility`]; read only when
    /// [`Self::needs_volatility`]).
    pub fn units(&self, scale: &[f32], volatility: Option<&[f32]>) -> Vec<f32> {
        match &self.grid {
            Some(grid) => (0..self.variates)
                .map(|v| {
                    let s = scale.get(v).copied().unwrap_or(1.0);
                    grid.unit(v, s, volatility.and_then(|vol| vol.get(v).copied()))
                })
                .collect(),
            None => vec![1.0; self.variates],
        }
    }

    /// The `q`-quantile of the first `horizon` rows of `point` ([horizon × variates], original
    /// units), with `units` from [`Self::units`].
    pub fn quantile(&self, point: &[f32], q: f64, units: &[f32]) -> Vec<f32> {
        let v_n = self.variates.max(1);
        point
            .iter()
            .zip(self.offsets(q))
            .enumerate()
            .map(|(i, (p, o))| {
                (f64::from(*p) + o * f64::from(units.get(i % v_n).copied().unwrap_or(1.0))) as f32
            })
            .collect()
    }
}

/// The volatility of each variate of a raw look-back window (`[L × V]`, original units) on the
/// scaled axis: [`statecast_models::conformal::window_volatility`] divided by the scaler's scale.
pub fn scaled_volatility(raw_window: &[f32], scale: &[f32]) -> Vec<f32> {
    statecast_models::conformal::window_volatility(raw_window, scale.len())
        .into_iter()
        .zip(scale)
        .map(|(vol, s)| if *s > 0.0 { vol / s } else { vol })
        .collect()
}

/// The method name of a conformal grid.
fn conformal_method(grid: &ResidualQuantiles) -> &'static str {
    if grid.volatility_floor.is_some() {
        METHOD_CONFORMAL_LOCAL
    } else {
        METHOD_CONFORMAL
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

    /// A locally adaptive grid: offsets scale with the window's volatility, raised to the floor.
    #[test]
    fn local_grid_units_follow_the_window_volatility() {
        use statecast_models::conformal::{LEVELS, ResidualSample};
        let sample = ResidualSample {
            horizon: 1,
            variates: 2,
            values: (0..200).map(|i| (i % 100) as f32 / 100.0 - 0.5).collect(),
        };
        let (standardised, floor) = sample.standardised(&vec![1.0; 200]);
        assert_eq!(floor, vec![0.1, 0.1]);
        let mut grid = standardised.quantiles(&LEVELS, "val").unwrap();
        grid.volatility_floor = Some(floor);
        let stats = IntervalStats::conformal(&[vec![1.0, 1.0]], grid);
        assert_eq!(stats.method, METHOD_CONFORMAL_LOCAL);
        assert!(stats.needs_volatility());
        // Scale 2 and 3; volatility 0.5 on the first variate, below the floor on the second.
        let units = stats.units(&[2.0, 3.0], Some(&[0.5, 0.01]));
        assert_eq!(units, vec![1.0, 3.0 * 0.1]);
        let offsets = stats.offsets(0.9);
        let q = stats.quantile(&[10.0, 20.0], 0.9, &units);
        assert!((q[0] - (10.0 + offsets[0] as f32)).abs() < 1e-5);
        assert!((q[1] - (20.0 + 0.3 * offsets[1] as f32)).abs() < 1e-5);
        // A raw window's volatility on the scaled axis: differences of 2 with scale 4.
        let raw = [0.0, 5.0, 2.0, 5.0, 4.0, 5.0];
        assert_eq!(scaled_volatility(&raw, &[4.0, 1.0]), vec![0.5, 0.0]);
    }
}
