//! Raw per-variate anomaly features of one series, updated one row at a time in O(variates ×
//! steps) work and fixed memory (the last `K` forecasts and a few running averages). Nothing
//! here is fitted: [`super::normalise`] turns features into scores with training statistics.
//!
//! Components, for variate `v` at row `t` (scaled axis):
//! - [`Component::OneStep`]: `x_t − x̂_t` from the window ending at `t−1`;
//! - [`Component::ShortHorizon`]: mean over `k = 1..K` of `x_t − x̂_t^(k)` (the `k`-step-ahead
//!   forecast made at `t−k`): errors that build up over a few steps (drifts, level shifts);
//! - [`Component::Bias`]: an exponentially weighted mean of the one-step residual (persistent
//!   offsets);
//! - [`Component::Activity`]: `ln(ε + EWMA |x_t − x_{t−1}|)` (stuck sensors read low, bursts high);
//! - [`Component::Reconstruction`]: `x_t − x̃_t`, the model's reconstruction of `x_t` from the
//!   window that ends at `t` (SpaceTime's open-loop look-back prediction);
//! - [`Component::Value`]: `x_t` itself (the raw-value baseline, no model).
use serde::{Deserialize, Serialize};

use super::predict::WindowOutput;

/// One feature per variate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// One-step forecast residual.
    OneStep,
    /// Mean residual of the 1..K-step-ahead forecasts.
    ShortHorizon,
    /// EWMA of the one-step residual.
    Bias,
    /// Log EWMA of absolute first differences.
    Activity,
    /// Reconstruction residual.
    Reconstruction,
    /// The value itself.
    Value,
}

/// Feature settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Components, in output order.
    pub components: Vec<Component>,
    /// Forecast steps `K` of the short-horizon residual (≤ the model's horizon).
    pub steps: usize,
    /// EWMA weight of the bias component (default 0.05).
    pub bias_alpha: f32,
    /// EWMA weight of the activity component (default 0.1).
    pub activity_alpha: f32,
}

/// ε of the activity component (scaled axis).
const ACTIVITY_EPS: f32 = 1e-3;

impl FeatureConfig {
    /// Every component a model with these capabilities supports: `steps` forecast steps
    /// (0 = no model) and a reconstruction or not.
    pub fn for_predictor(steps: usize, reconstruction: bool) -> Self {
        let components = if steps == 0 {
            vec![Component::Value]
        } else {
            let mut c = vec![Component::OneStep];
            if steps > 1 {
                c.push(Component::ShortHorizon);
            }
            c.extend([Component::Bias, Component::Activity]);
            if reconstruction {
                c.push(Component::Reconstruction);
            }
            c
        };
        Self {
            components,
            steps,
            bias_alpha: 0.05,
            activity_alpha: 0.1,
        }
    }

    /// Components per variate.
    pub fn n_components(&self) -> usize {
        self.components.len()
    }
}

/// Running feature state of one series.
///
/// Invariant: `ring` holds the last `min(seen, K)` forecasts, newest at `head − 1` (mod K),
/// each [K, variates]; memory is `K² · variates + 3 · variates` floats whatever the stream length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureState {
    cfg: FeatureConfig,
    n_variates: usize,
    /// Last K forecasts, [K][K, variates].
    ring: Vec<Vec<f32>>,
    head: usize,
    filled: usize,
    bias: Vec<f32>,
    activity: Vec<f32>,
    /// Differences folded into `activity` so far, per variate: the component stays NaN until
    /// the EWMA has seen `⌈1/α⌉` of them (a single difference reads far more extreme than the
    /// smoothed level the normaliser was fitted on, and raised an alarm on every new series).
    #[serde(default)]
    activity_n: Vec<u32>,
    prev: Option<Vec<f32>>,
}

impl FeatureState {
    /// A fresh state for `n_variates` variates.
    pub fn new(cfg: FeatureConfig, n_variates: usize) -> Self {
        let k = cfg.steps.max(1);
        Self {
            ring: vec![Vec::new(); k],
            cfg,
            n_variates,
            head: 0,
            filled: 0,
            bias: vec![0.0; n_variates],
            activity: vec![f32::NAN; n_variates],
            activity_n: vec![0; n_variates],
            prev: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Consume row `x_v` ([variates], scaled; NaN = missing) and the model output of the window
    /// that ends at this row; return the features, [variates × components] variate-major (NaN
    /// where a component is not yet available or the value is missing).
    pub fn update(&mut self, x_v: &[f32], out: &WindowOutput) -> Vec<f32> {
        let (nv, nc, k) = (self.n_variates, self.cfg.n_components(), self.cfg.steps.max(1));
        debug_assert_eq!(x_v.len(), nv);
        let mut f = vec![f32::NAN; nv * nc];
        // Forecast made `j` rows ago (j = 1..=filled), predicting this row at step j−1.
        let pred = |ring: &[Vec<f32>], j: usize, v: usize| -> f32 {
            let slot = (self.head + k - j) % k;
            ring[slot][(j - 1) * nv + v]
        };
        for v in 0..nv {
            let x = x_v[v];
            let one = if self.filled >= 1 && self.cfg.steps > 0 {
                x - pred(&self.ring, 1, v)
            } else {
                f32::NAN
            };
            if one.is_finite() {
                let a = self.cfg.bias_alpha;
                self.bias[v] = (1.0 - a) * self.bias[v] + a * one;
            }
            if let Some(p) = &self.prev
                && (x - p[v]).is_finite()
            {
                let a = self.cfg.activity_alpha;
                let d = (x - p[v]).abs();
                self.activity[v] = if self.activity[v].is_nan() {
                    d
                } else {
                    (1.0 - a) * self.activity[v] + a * d
                };
                if let Some(n) = self.activity_n.get_mut(v) {
                    *n = n.saturating_add(1);
                }
            }
            let activity_warm = self.activity_n.get(v).is_some_and(|&n| {
                f64::from(n) >= (1.0 / f64::from(self.cfg.activity_alpha.max(1e-3))).ceil()
            });
            for (c, comp) in self.cfg.components.iter().enumerate() {
                let val = match comp {
                    Component::OneStep => one,
                    Component::ShortHorizon => {
                        let n = self.filled.min(k);
                        if n < k {
                            f32::NAN
                        } else {
                            (1..=n).map(|j| x - pred(&self.ring, j, v)).sum::<f32>() / n as f32
                        }
                    }
                    Component::Bias => {
                        if self.filled >= 1 {
                            self.bias[v]
                        } else {
                            f32::NAN
                        }
                    }
                    Component::Activity if activity_warm => (self.activity[v] + ACTIVITY_EPS).ln(),
                    Component::Activity => f32::NAN,
                    Component::Reconstruction => out.recon_v.as_ref().map_or(f32::NAN, |r| x - r[v]),
                    Component::Value => x,
                };
                f[v * nc + c] = if x.is_finite() { val } else { f32::NAN };
            }
        }
        if self.cfg.steps > 0 {
            debug_assert_eq!(out.forecast_kv.len(), self.cfg.steps * nv);
            self.ring[self.head] = out.forecast_kv.clone();
            self.head = (self.head + 1) % k;
            self.filled = (self.filled + 1).min(k);
        }
        // Keep the last finite value of each variate for the differences.
        let prev = self.prev.get_or_insert_with(|| x_v.to_vec());
        for v in 0..nv {
            if x_v[v].is_finite() {
                prev[v] = x_v[v];
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(f: Vec<f32>) -> WindowOutput {
        WindowOutput {
            forecast_kv: f,
            recon_v: None,
        }
    }

    #[test]
    fn one_step_and_short_horizon_residuals() {
        // One variate, K = 2: forecasts are [next, next+1].
        let cfg = FeatureConfig::for_predictor(2, false);
        assert_eq!(
            cfg.components,
            vec![
                Component::OneStep,
                Component::ShortHorizon,
                Component::Bias,
                Component::Activity
            ]
        );
        let mut s = FeatureState::new(cfg, 1);
        let f0 = s.update(&[0.0], &out(vec![1.0, 2.0]));
        assert!(f0[0].is_nan() && f0[1].is_nan());
        // Row 1 = 1.5: one-step residual 1.5 − 1.0; short horizon needs two forecasts.
        let f1 = s.update(&[1.5], &out(vec![3.0, 4.0]));
        assert_eq!(f1[0], 0.5);
        assert!(f1[1].is_nan());
        // Row 2 = 3.0: one-step 3 − 3 = 0; two-step forecast from row 0 was 2 → mean(0, 1) = 0.5.
        let f2 = s.update(&[3.0], &out(vec![0.0, 0.0]));
        assert_eq!(f2[0], 0.0);
        assert_eq!(f2[1], 0.5);
        // Activity: EWMA of |Δx| = 1.5 then 0.9·1.5 + 0.1·1.5 = 1.5, but reported only once
        // ⌈1/α⌉ = 10 differences are in (a single difference is not the smoothed level).
        assert!(f2[3].is_nan());
        let mut last = f2;
        for t in 0..16 {
            let x = if t % 2 == 0 { 4.5 } else { 3.0 };
            last = s.update(&[x], &out(vec![0.0, 0.0]));
        }
        assert!((last[3] - (1.5f32 + ACTIVITY_EPS).ln()).abs() < 1e-5);
    }

    #[test]
    fn stuck_values_lower_activity_and_missing_values_give_nan() {
        let mut s = FeatureState::new(FeatureConfig::for_predictor(1, false), 1);
        for t in 0..50 {
            s.update(&[if t % 2 == 0 { 1.0 } else { -1.0 }], &out(vec![0.0]));
        }
        let busy = s.update(&[1.0], &out(vec![0.0]))[2];
        let mut stuck = busy;
        for _ in 0..30 {
            stuck = s.update(&[1.0], &out(vec![1.0]))[2];
        }
        assert!(stuck < busy - 2.0, "{stuck} vs {busy}");
        let f = s.update(&[f32::NAN], &out(vec![1.0]));
        assert!(f.iter().all(|x| x.is_nan()));
    }
}
