//! Raw per-variate anomaly features of one series, updated one row at a time in O(variates ×
//! steps) work and fixed memory (the last `K` forecasts, the `D`-step forecasts of the last `D`
//! rows, a few rows of history and some running averages). The cross-variate predictor is fitted
//! elsewhere ([`crate::cross`]); [`super::normalise`] turns features into scores with training
//! statistics.
//!
//! Components, for variate `v` at row `t` (scaled axis), and the anomaly each is meant for:
//! - [`Component::OneStep`]: `x_t − x̂_t` from the window ending at `t−1` (spikes);
//! - [`Component::ShortHorizon`]: mean over `k = 1..K` of `x_t − x̂_t^(k)` (the `k`-step-ahead
//!   forecast made at `t−k`): errors that build up over a few steps;
//! - [`Component::Bias`]: an exponentially weighted mean of the one-step residual (persistent
//!   offsets the model has not absorbed yet);
//! - [`Component::Drift`]: an exponentially weighted mean of `x_t − x̂_t^(D)`, the forecast made
//!   `D` rows earlier: a forecaster re-reads its window every row and follows a level shift or a
//!   slow ramp within a few rows, so one-step residuals forget them; the `D`-step forecast was
//!   made before the change began and keeps seeing it (level shifts, drifts);
//! - [`Component::Seasonal`]: an exponentially weighted mean of `x_t − x_{t−P}`, the value one
//!   day (`P` rows) earlier: slow drifts that every forecast follows, on sensors with a daily
//!   cycle; only where `P × variates ≤` [`MAX_SEASON_FLOATS`] (the ring of the last day);
//! - [`Component::ResidualVariance`]: `ln(ε + EWMA r²)` of the one-step residual, `|r|` clipped at
//!   [`VARIANCE_CLIP`] (variance bursts);
//! - [`Component::Activity`]: `ln(ε + EWMA |x_t − x_{t−1}|)` (stuck sensors read low, bursts high);
//! - [`Component::CrossResidual`]: `ln(ε + EWMA e²)` of the cross-variate residual, `|e|` clipped
//!   at [`crate::cross::RESIDUAL_CLIP`] of its fitted spread (a sensor that stops following the
//!   others: broken correlation). Detectors fitted now read it relative to the series' own
//!   noise instead ([`Component::CrossVariance`]); it stays for detectors stored before;
//! - [`Component::CrossVariance`]: `ln EWMA e² − ln S`, the same running variance relative to
//!   `S`, the residual's own slow mean square on this series ([`SLOW_ALPHA`], about 500 rows,
//!   an average of everything seen until then). Sensor noise that grows with a machine's load
//!   (a machine busier than in its training rows) raises every residual variance for days; a
//!   broken correlation or a variance burst raises it for tens to hundreds of rows;
//! - [`Component::CrossLevel`]: a slow exponentially weighted mean (weight
//!   [`CROSS_LEVEL_ALPHA`], about 100 rows) of the same clipped residual, over `√S`: a sensor
//!   whose level moves away from what the others imply (a level shift, a drift) leaves a
//!   residual of one sign for as long as the running level it is centred on takes to follow,
//!   and its mean adds that up (level shifts and drifts of a sensor that has partners);
//! - [`Component::Reconstruction`]: `x_t − x̃_t`, the model's reconstruction of `x_t` from the
//!   window that ends at `t` (SpaceTime's open-loop look-back prediction);
//! - [`Component::Value`]: `x_t` itself (the raw-value baseline, no model).
//!
//! Running averages report NaN until they have seen `⌈1/α⌉` inputs: a single value reads far more
//! extreme than the smoothed level the normaliser was fitted on.
use serde::{Deserialize, Serialize};

use super::cross::{CrossModel, History};
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
    /// EWMA of the residual of the forecast made `D` rows earlier.
    Drift,
    /// EWMA of the difference from the value one day earlier.
    Seasonal,
    /// Log EWMA of the squared one-step residual.
    ResidualVariance,
    /// Log EWMA of absolute first differences.
    Activity,
    /// Log EWMA of the squared cross-variate residual.
    CrossResidual,
    /// Slow EWMA of the cross-variate residual over its slow RMS.
    CrossLevel,
    /// Log EWMA of the squared cross-variate residual relative to its slow mean square.
    CrossVariance,
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
    /// Forecast lag `D` of the drift component (0: no drift component).
    #[serde(default)]
    pub drift_lag: usize,
    /// EWMA weight of the drift component.
    #[serde(default = "default_alpha")]
    pub drift_alpha: f32,
    /// EWMA weight of the residual-variance component.
    #[serde(default = "default_alpha")]
    pub variance_alpha: f32,
    /// EWMA weight of the cross-variate residual component.
    #[serde(default = "default_cross_alpha")]
    pub cross_alpha: f32,
    /// Rows per day `P` of the seasonal component (0: none).
    #[serde(default)]
    pub season: usize,
}

/// Largest ring of the seasonal component, `P × variates` floats (16 KiB per series).
pub const MAX_SEASON_FLOATS: usize = 4096;

/// EWMA weight of the seasonal component.
const SEASON_ALPHA: f32 = 0.05;

fn default_alpha() -> f32 {
    0.1
}

fn default_cross_alpha() -> f32 {
    0.05
}

/// EWMA weight of the cross-variate level component (about 100 rows). The cross residual is
/// centred on a 20-row running level, so after a level change of size `m` it reads about
/// `m (1 − α_c)^k` at row `k`, summing to `m / α_c`; a slow mean keeps a fifth of that for
/// about a hundred rows, where the residual variance has long settled. A drift of slope `s`
/// leaves a residual of about `s / α_c` for as long as it lasts.
pub const CROSS_LEVEL_ALPHA: f32 = 0.01;

/// Weight of the slow mean square of the cross-variate residual (about 500 rows).
pub const SLOW_ALPHA: f32 = 0.002;

/// Residuals the slow mean square averages before the relative components are reported.
const SLOW_WARM: u32 = 100;

/// ε of the log components (scaled axis).
const ACTIVITY_EPS: f32 = 1e-3;

/// Largest residual fed to the running variances (scaled axis): a spike is the one-step
/// residual's to report; unclipped, a 10σ spike held the running variance up for hundreds of
/// rows and turned a 3-row incident into a day-long alarm.
pub const VARIANCE_CLIP: f32 = 3.0;

/// `r²` with `|r|` clipped at [`VARIANCE_CLIP`].
fn clipped_square(r: f32) -> f32 {
    let r = r.clamp(-VARIANCE_CLIP, VARIANCE_CLIP);
    r * r
}

/// The longest drift lag `D`: the ring of `D`-step forecasts costs `D × variates` floats.
pub const MAX_DRIFT_LAG: usize = 48;

/// What the predictor and the data offer the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureInputs {
    /// Forecast steps kept by the predictor (0 = no model).
    pub forecast_steps: usize,
    /// Short-horizon steps `K` asked for (clamped to `forecast_steps`).
    pub short_steps: usize,
    /// Whether the model reconstructs its window.
    pub reconstruction: bool,
    /// Whether a cross-variate predictor was fitted.
    pub cross: bool,
    /// Rows per day of the data (0: unknown or not wanted); the seasonal component is used when
    /// it is at least 4 and the ring fits [`MAX_SEASON_FLOATS`].
    pub rows_per_day: usize,
    /// Variates (for the ring size).
    pub n_variates: usize,
}

impl FeatureConfig {
    /// Every component the inputs support. The raw-value baseline (no forecast) gets the value
    /// alone; a model gets its residual features, the drift component at lag
    /// `D = min(forecast_steps, MAX_DRIFT_LAG)` when `D > K`, and the cross-variate residual when
    /// one was fitted.
    pub fn for_inputs(inp: FeatureInputs) -> Self {
        let steps = inp.short_steps.min(inp.forecast_steps);
        let drift_lag = inp.forecast_steps.min(MAX_DRIFT_LAG);
        let drift_lag = if drift_lag > steps { drift_lag } else { 0 };
        let fits = inp.rows_per_day.saturating_mul(inp.n_variates.max(1)) <= MAX_SEASON_FLOATS;
        let season = if inp.rows_per_day >= 4 && fits && inp.forecast_steps > 0 {
            inp.rows_per_day
        } else {
            0
        };
        let components = if inp.forecast_steps == 0 {
            vec![Component::Value]
        } else {
            let mut c = vec![Component::OneStep];
            if steps > 1 {
                c.push(Component::ShortHorizon);
            }
            c.push(Component::Bias);
            if drift_lag > 0 {
                c.push(Component::Drift);
            }
            if season > 0 {
                c.push(Component::Seasonal);
            }
            c.extend([Component::ResidualVariance, Component::Activity]);
            if inp.cross {
                c.extend([Component::CrossVariance, Component::CrossLevel]);
            }
            if inp.reconstruction {
                c.push(Component::Reconstruction);
            }
            c
        };
        Self {
            components,
            steps,
            bias_alpha: 0.05,
            activity_alpha: 0.1,
            drift_lag,
            drift_alpha: default_alpha(),
            variance_alpha: default_alpha(),
            cross_alpha: default_cross_alpha(),
            season,
        }
    }

    /// Components per variate.
    pub fn n_components(&self) -> usize {
        self.components.len()
    }

    /// Forecast steps the predictor must keep: `max(K, D)`.
    pub fn forecast_steps(&self) -> usize {
        self.steps.max(self.drift_lag)
    }

    /// The forecast steps the features read (1-based): `1..=K` and `D`. A recurrent predictor
    /// computes only these.
    pub fn needed_steps(&self) -> Vec<usize> {
        let mut steps: Vec<usize> = (1..=self.steps).collect();
        if self.drift_lag > self.steps {
            steps.push(self.drift_lag);
        }
        steps
    }

    /// Whether the features read the cross-variate residual.
    pub fn uses_cross(&self) -> bool {
        self.components.iter().any(|c| {
            matches!(
                c,
                Component::CrossResidual | Component::CrossVariance | Component::CrossLevel
            )
        })
    }
}

/// An exponentially weighted mean, bias-corrected: after `n` values it is the average with
/// weights `(1 − α)^k`, not a start value that still carries weight `(1 − α)^n` (0.37 after
/// `1/α` values, which made every new stream open with the first rows' residuals and, for the
/// slow components, with a false alarm). Reports NaN until it has seen `⌈1/α⌉` values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Ewma {
    value: f32,
    seen: u32,
    /// `1 − (1 − α)^n`, the weight the values seen so far carry (1 in states stored before the
    /// correction: they continue as settled means).
    #[serde(default = "settled_mass")]
    mass: f32,
}

fn settled_mass() -> f32 {
    1.0
}

impl Ewma {
    const EMPTY: Self = Self {
        value: f32::NAN,
        seen: 0,
        mass: 0.0,
    };

    fn push(&mut self, x: f32, alpha: f32) {
        if !x.is_finite() {
            return;
        }
        self.mass = (1.0 - alpha) * self.mass + alpha;
        self.value = if self.value.is_nan() {
            x
        } else {
            self.value + alpha / self.mass * (x - self.value)
        };
        self.seen = self.seen.saturating_add(1);
    }

    fn get(&self, alpha: f32) -> f32 {
        if f64::from(self.seen) >= (1.0 / f64::from(alpha.max(1e-3))).ceil() {
            self.value
        } else {
            f32::NAN
        }
    }
}

/// Running feature state of one series.
///
/// Invariant: `ring` holds the last `min(seen, K)` forecasts' first `K` steps, newest at
/// `head − 1` (mod K), each [K, variates]; `far` the `D`-step forecasts of the last `D` rows.
/// Memory is `(K² + D + lags + 6) · variates` floats whatever the stream length.
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
    /// `D`-step forecasts of the last `D` rows, [D][variates]; slot `far_head` is the oldest.
    #[serde(default)]
    far: Vec<Vec<f32>>,
    #[serde(default)]
    far_head: usize,
    #[serde(default)]
    far_filled: usize,
    #[serde(default)]
    drift: Vec<Ewma>,
    #[serde(default)]
    variance: Vec<Ewma>,
    #[serde(default)]
    cross: Vec<Ewma>,
    #[serde(default)]
    history: Option<History>,
    /// The last day's values (last finite value where missing), [P][variates] ring; slot
    /// `season_pos` is the oldest.
    #[serde(default)]
    day: Vec<f32>,
    #[serde(default)]
    season_pos: usize,
    #[serde(default)]
    season_filled: usize,
    #[serde(default)]
    seasonal: Vec<Ewma>,
    /// Slow EWMA of the cross-variate residual, [variates] (empty in states stored before
    /// the component existed).
    #[serde(default)]
    cross_level: Vec<Ewma>,
    /// Slow mean square of the cross-variate residual, [variates].
    #[serde(default)]
    cross_slow: Vec<SlowMean>,
}

/// The mean of everything seen until `1/α` values, then an exponentially weighted mean of
/// weight `α`; reports NaN before [`SLOW_WARM`] values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct SlowMean {
    value: f32,
    seen: u32,
}

impl SlowMean {
    fn push(&mut self, x: f32, alpha: f32) {
        if !x.is_finite() {
            return;
        }
        self.seen = self.seen.saturating_add(1);
        let w = (1.0 / self.seen as f32).max(alpha);
        self.value += w * (x - self.value);
    }

    fn get(&self) -> f32 {
        if self.seen >= SLOW_WARM {
            self.value
        } else {
            f32::NAN
        }
    }
}

impl FeatureState {
    /// A fresh state for `n_variates` variates; `cross_lags` = the lags of the fitted
    /// cross-variate predictor (ignored when the features do not read it).
    pub fn new(cfg: FeatureConfig, n_variates: usize, cross_lags: usize) -> Self {
        let k = cfg.steps.max(1);
        let history = cfg.uses_cross().then(|| History::new(cross_lags, n_variates));
        let season = cfg.season;
        Self {
            ring: vec![Vec::new(); k],
            far: vec![Vec::new(); cfg.drift_lag],
            cfg,
            n_variates,
            head: 0,
            filled: 0,
            bias: vec![0.0; n_variates],
            activity: vec![f32::NAN; n_variates],
            activity_n: vec![0; n_variates],
            prev: None,
            far_head: 0,
            far_filled: 0,
            drift: vec![Ewma::EMPTY; n_variates],
            variance: vec![Ewma::EMPTY; n_variates],
            cross: vec![Ewma::EMPTY; n_variates],
            history,
            day: vec![0.0; season * n_variates],
            season_pos: 0,
            season_filled: 0,
            seasonal: vec![Ewma::EMPTY; n_variates],
            cross_level: vec![Ewma::EMPTY; n_variates],
            cross_slow: vec![SlowMean::default(); n_variates],
        }
    }

    /// The settings.
    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Consume row `x_v` ([variates], scaled; NaN = missing) and the model output of the window
    /// that ends at this row; return the features, [variates × components] variate-major (NaN
    /// where a component is not yet available or the value is missing). `cross` is the fitted
    /// cross-variate predictor (required when the features read it, else the component is NaN).
    pub fn update(&mut self, x_v: &[f32], out: &WindowOutput, cross: Option<&CrossModel>) -> Vec<f32> {
        let (nv, nc, k) = (self.n_variates, self.cfg.n_components(), self.cfg.steps.max(1));
        debug_assert_eq!(x_v.len(), nv);
        let mut f = vec![f32::NAN; nv * nc];
        // Forecast made `j` rows ago (j = 1..=filled), predicting this row at step j−1.
        let pred = |ring: &[Vec<f32>], j: usize, v: usize| -> f32 {
            let slot = (self.head + k - j) % k;
            ring[slot][(j - 1) * nv + v]
        };
        if self.cross_level.len() != nv || self.cross_slow.len() != nv {
            self.cross_level = vec![Ewma::EMPTY; nv];
            self.cross_slow = vec![SlowMean::default(); nv];
        }
        let cross_e = match (&mut self.history, cross) {
            (Some(h), Some(m)) if m.n_variates == nv => {
                h.push(x_v);
                h.warm().then(|| {
                    let e = m.residuals(h);
                    e.into_iter()
                        .enumerate()
                        .map(|(v, e)| m.clip(v, e))
                        .collect::<Vec<f32>>()
                })
            }
            _ => None,
        };
        let d = self.cfg.drift_lag;
        let far_ready = d > 0 && self.far_filled == d;
        let p = self.cfg.season;
        let day_ready = p > 0 && self.season_filled == p;
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
                self.variance[v].push(clipped_square(one), self.cfg.variance_alpha);
            }
            if far_ready {
                self.drift[v].push(x - self.far[self.far_head][v], self.cfg.drift_alpha);
            }
            if day_ready {
                self.seasonal[v].push(x - self.day[self.season_pos * nv + v], SEASON_ALPHA);
            }
            if let Some(e) = &cross_e {
                self.cross[v].push(e[v] * e[v], self.cfg.cross_alpha);
                self.cross_level[v].push(e[v], CROSS_LEVEL_ALPHA);
                self.cross_slow[v].push(e[v] * e[v], SLOW_ALPHA);
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
                    Component::Drift => self.drift[v].get(self.cfg.drift_alpha),
                    Component::Seasonal => self.seasonal[v].get(SEASON_ALPHA),
                    Component::ResidualVariance => {
                        (self.variance[v].get(self.cfg.variance_alpha) + ACTIVITY_EPS).ln()
                    }
                    Component::Activity if activity_warm => (self.activity[v] + ACTIVITY_EPS).ln(),
                    Component::Activity => f32::NAN,
                    Component::CrossResidual => (self.cross[v].get(self.cfg.cross_alpha) + ACTIVITY_EPS).ln(),
                    Component::CrossLevel => {
                        self.cross_level[v].get(CROSS_LEVEL_ALPHA)
                            / (self.cross_slow[v].get() + ACTIVITY_EPS).sqrt()
                    }
                    Component::CrossVariance => {
                        (self.cross[v].get(self.cfg.cross_alpha) + ACTIVITY_EPS).ln()
                            - (self.cross_slow[v].get() + ACTIVITY_EPS).ln()
                    }
                    Component::Reconstruction => out.recon_v.as_ref().map_or(f32::NAN, |r| x - r[v]),
                    Component::Value => x,
                };
                f[v * nc + c] = if x.is_finite() { val } else { f32::NAN };
            }
        }
        // A predictor keeping fewer steps than the features read (a caller that sized it by
        // `steps` rather than `forecast_steps()`) pads with NaN: the components read as missing
        // instead of the stream failing.
        let step_row = |j: usize| -> Vec<f32> {
            out.forecast_kv
                .get((j - 1) * nv..j * nv)
                .map_or_else(|| vec![f32::NAN; nv], <[f32]>::to_vec)
        };
        if self.cfg.steps > 0 {
            self.ring[self.head] = (1..=self.cfg.steps).flat_map(step_row).collect();
            self.head = (self.head + 1) % k;
            self.filled = (self.filled + 1).min(k);
        }
        if d > 0 {
            // Replace the oldest slot (just read) with this row's D-step forecast.
            self.far[self.far_head] = step_row(d);
            self.far_head = (self.far_head + 1) % d;
            self.far_filled = (self.far_filled + 1).min(d);
        }
        // Keep the last finite value of each variate for the differences.
        let prev = self.prev.get_or_insert_with(|| x_v.to_vec());
        for v in 0..nv {
            if x_v[v].is_finite() {
                prev[v] = x_v[v];
            }
        }
        if p > 0 {
            let slot = &mut self.day[self.season_pos * nv..(self.season_pos + 1) * nv];
            for (s, &x) in slot.iter_mut().zip(prev.iter()) {
                *s = if x.is_finite() { x } else { 0.0 };
            }
            self.season_pos = (self.season_pos + 1) % p;
            self.season_filled = (self.season_filled + 1).min(p);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-step, short-horizon, bias and activity components only (and a reconstruction or
    /// not): the settings these tests were written for.
    fn basic(steps: usize, reconstruction: bool) -> FeatureConfig {
        let mut cfg = FeatureConfig::for_inputs(FeatureInputs {
            forecast_steps: steps,
            short_steps: steps,
            reconstruction,
            cross: false,
            rows_per_day: 0,
            n_variates: 0,
        });
        cfg.components
            .retain(|c| !matches!(c, Component::ResidualVariance | Component::Drift));
        cfg
    }

    fn out(f: Vec<f32>) -> WindowOutput {
        WindowOutput {
            forecast_kv: f,
            recon_v: None,
        }
    }

    #[test]
    fn one_step_and_short_horizon_residuals() {
        // One variate, K = 2: forecasts are [next, next+1].
        let cfg = basic(2, false);
        assert_eq!(
            cfg.components,
            vec![
                Component::OneStep,
                Component::ShortHorizon,
                Component::Bias,
                Component::Activity
            ]
        );
        let mut s = FeatureState::new(cfg, 1, 1);
        let f0 = s.update(&[0.0], &out(vec![1.0, 2.0]), None);
        assert!(f0[0].is_nan() && f0[1].is_nan());
        // Row 1 = 1.5: one-step residual 1.5 − 1.0; short horizon needs two forecasts.
        let f1 = s.update(&[1.5], &out(vec![3.0, 4.0]), None);
        assert_eq!(f1[0], 0.5);
        assert!(f1[1].is_nan());
        // Row 2 = 3.0: one-step 3 − 3 = 0; two-step forecast from row 0 was 2 → mean(0, 1) = 0.5.
        let f2 = s.update(&[3.0], &out(vec![0.0, 0.0]), None);
        assert_eq!(f2[0], 0.0);
        assert_eq!(f2[1], 0.5);
        // Activity: EWMA of |Δx| = 1.5 then 0.9·1.5 + 0.1·1.5 = 1.5, but reported only once
        // ⌈1/α⌉ = 10 differences are in (a single difference is not the smoothed level).
        assert!(f2[3].is_nan());
        let mut last = f2;
        for t in 0..16 {
            let x = if t % 2 == 0 { 4.5 } else { 3.0 };
            last = s.update(&[x], &out(vec![0.0, 0.0]), None);
        }
        assert!((last[3] - (1.5f32 + ACTIVITY_EPS).ln()).abs() < 1e-5);
    }

    #[test]
    fn stuck_values_lower_activity_and_missing_values_give_nan() {
        let mut s = FeatureState::new(basic(1, false), 1, 1);
        for t in 0..50 {
            s.update(&[if t % 2 == 0 { 1.0 } else { -1.0 }], &out(vec![0.0]), None);
        }
        let busy = s.update(&[1.0], &out(vec![0.0]), None)[2];
        let mut stuck = busy;
        for _ in 0..30 {
            stuck = s.update(&[1.0], &out(vec![1.0]), None)[2];
        }
        assert!(stuck < busy - 2.0, "{stuck} vs {busy}");
        let f = s.update(&[f32::NAN], &out(vec![1.0]), None);
        assert!(f.iter().all(|x| x.is_nan()));
    }

    /// A follower model (every step forecasts the last value, as a forecaster re-reading its
    /// window does after a level change): row `t`'s output given the value at `t`.
    fn follow(x: f32, steps: usize) -> WindowOutput {
        out(vec![x; steps])
    }

    fn inputs(forecast_steps: usize, short_steps: usize, cross: bool) -> FeatureConfig {
        FeatureConfig::for_inputs(FeatureInputs {
            forecast_steps,
            short_steps,
            reconstruction: false,
            cross,
            rows_per_day: 0,
            n_variates: 1,
        })
    }

    #[test]
    fn drift_keeps_seeing_a_level_shift_that_the_one_step_residual_forgets() {
        let cfg = inputs(24, 4, false);
        assert_eq!(cfg.drift_lag, 24);
        assert_eq!(cfg.forecast_steps(), 24);
        let (bias_c, drift_c) = (
            cfg.components.iter().position(|c| *c == Component::Bias).unwrap(),
            cfg.components
                .iter()
                .position(|c| *c == Component::Drift)
                .unwrap(),
        );
        let mut s = FeatureState::new(cfg, 1, 1);
        let noise = |t: usize| if t.is_multiple_of(2) { 0.1 } else { -0.1 };
        let mut f = Vec::new();
        for t in 0..300 {
            let x = noise(t) + if t >= 200 { 3.0 } else { 0.0 };
            f = s.update(&[x], &follow(x, 24), None);
            if t == 199 {
                assert!(f[drift_c].abs() < 0.3, "normal drift {}", f[drift_c]);
            }
            if t == 215 {
                // 16 rows after the shift: the 24-step forecast was made before it.
                assert!(f[drift_c] > 2.0, "drift {}", f[drift_c]);
                assert!(f[bias_c].abs() < 0.4, "bias {}", f[bias_c]);
            }
        }
        // Once the lagged forecasts postdate the shift, the drift decays again.
        assert!(f[drift_c].abs() < 0.5, "late drift {}", f[drift_c]);
    }

    #[test]
    fn seasonal_component_sees_a_slow_ramp_against_yesterday() {
        let cfg = FeatureConfig::for_inputs(FeatureInputs {
            forecast_steps: 1,
            short_steps: 1,
            reconstruction: false,
            cross: false,
            rows_per_day: 24,
            n_variates: 1,
        });
        assert_eq!(cfg.season, 24);
        let c = cfg
            .components
            .iter()
            .position(|c| *c == Component::Seasonal)
            .unwrap();
        let mut s = FeatureState::new(cfg, 1, 1);
        let cycle = |t: usize| (t as f32 * std::f32::consts::TAU / 24.0).sin();
        let mut f = Vec::new();
        for t in 0..120 {
            // A daily cycle; from row 80 a ramp of 0.05 per row (2 after 40 rows).
            let ramp = if t >= 80 { 0.05 * (t - 80) as f32 } else { 0.0 };
            f = s.update(&[cycle(t) + ramp], &out(vec![0.0]), None);
            if t == 79 {
                assert!(f[c].abs() < 1e-4, "{}", f[c]);
            }
        }
        assert!(f[c] > 0.7, "{}", f[c]);
        // Too long a day for the ring: no seasonal component.
        let big = FeatureConfig::for_inputs(FeatureInputs {
            forecast_steps: 1,
            short_steps: 1,
            reconstruction: false,
            cross: false,
            rows_per_day: 1440,
            n_variates: 38,
        });
        assert_eq!(big.season, 0);
        assert!(!big.components.contains(&Component::Seasonal));
    }

    #[test]
    fn residual_variance_rises_in_a_burst() {
        let cfg = inputs(1, 1, false);
        let c = cfg
            .components
            .iter()
            .position(|c| *c == Component::ResidualVariance)
            .unwrap();
        let mut s = FeatureState::new(cfg, 1, 1);
        let mut calm = f32::NAN;
        let mut burst = f32::NAN;
        for t in 0..200 {
            let amp = if t >= 150 { 2.5 } else { 0.5 };
            let x = if t % 2 == 0 { amp } else { -amp };
            let f = s.update(&[x], &out(vec![0.0]), None);
            if t == 149 {
                calm = f[c];
            }
            burst = f[c];
        }
        // ln(25 σ²) − ln(σ²) = ln 25 once the EWMA has settled.
        assert!((burst - calm - 25f32.ln()).abs() < 0.2, "{calm} → {burst}");
    }

    #[test]
    fn cross_residual_reads_the_cross_model_and_is_nan_without_it() {
        // The absolute running variance of detectors stored before the relative one.
        let mut cfg = inputs(1, 1, true);
        for c in &mut cfg.components {
            if *c == Component::CrossVariance {
                *c = Component::CrossResidual;
            }
        }
        let c = cfg
            .components
            .iter()
            .position(|c| *c == Component::CrossResidual)
            .unwrap();
        let nc = cfg.n_components();
        // x1 should equal x0: residual 0 while it does, large when x1 departs by 2.
        let m = CrossModel {
            n_variates: 2,
            lags: 1,
            coef: vec![vec![0.0, 1.0], vec![0.0, 1.0]],
            scale: Vec::new(),
            curved: false,
        };
        let mut s = FeatureState::new(cfg.clone(), 2, 1);
        let mut f = Vec::new();
        for t in 0..140 {
            let x0 = (t as f32 * 0.3).sin();
            let x1 = x0 + if t >= 120 { 2.0 } else { 0.0 };
            f = s.update(&[x0, x1], &out(vec![0.0, 0.0]), Some(&m));
            if t == 119 {
                assert!(f[nc + c] < (1e-3f32).ln() + 0.01, "{}", f[nc + c]);
            }
        }
        // The departure (2, slowly absorbed by the running level the cross model centres on)
        // lifts the residual variance from 0 to the order of 1.
        assert!(f[nc + c] > 0.5f32.ln(), "{}", f[nc + c]);
        let mut none = FeatureState::new(cfg, 2, 1);
        for _ in 0..50 {
            f = none.update(&[0.0, 0.0], &out(vec![0.0, 0.0]), None);
        }
        assert!(f[c].is_nan());
    }

    /// Deterministic noise, uniform on ±0.1 (std 0.058).
    fn jitter(t: usize) -> f32 {
        ((t * 7919 + 13) % 1000) as f32 / 1000.0 * 0.2 - 0.1
    }

    /// The cross model of [`cross_residual_reads_the_cross_model_and_is_nan_without_it`]:
    /// x1 should equal x0.
    fn follower() -> CrossModel {
        CrossModel {
            n_variates: 2,
            lags: 1,
            coef: vec![vec![0.0, 1.0], vec![0.0, 1.0]],
            scale: vec![1.0, 1.0],
            curved: false,
        }
    }

    fn position(cfg: &FeatureConfig, c: Component) -> usize {
        cfg.components.iter().position(|k| *k == c).unwrap()
    }

    #[test]
    fn cross_level_holds_a_level_shift_that_the_residual_variance_forgets() {
        let cfg = inputs(1, 1, true);
        let (level, variance, nc) = (
            position(&cfg, Component::CrossLevel),
            position(&cfg, Component::CrossVariance),
            cfg.n_components(),
        );
        let m = follower();
        let mut s = FeatureState::new(cfg, 2, 1);
        let (mut calm, mut peak_variance) = (0f32, f32::MIN);
        for t in 0..800 {
            let x0 = (t as f32 * 0.05).sin();
            let x1 = x0 + jitter(t) + if t >= 600 { 1.0 } else { 0.0 };
            let f = s.update(&[x0, x1], &out(vec![0.0, 0.0]), Some(&m));
            let (l, v) = (f[nc + level], f[nc + variance]);
            if (300..600).contains(&t) {
                calm = calm.max(l.abs());
            }
            if t >= 600 {
                peak_variance = peak_variance.max(v);
            }
            if t == 700 {
                // A hundred rows on, the running variance is back near its calm value while
                // the slow mean still holds the shift.
                assert!(l > 5.0 * calm, "level {l} vs calm {calm}");
                assert!(v < peak_variance - 1.0, "variance {v} vs peak {peak_variance}");
            }
        }
        assert!(calm > 0.0);
    }

    #[test]
    fn cross_variance_is_relative_to_the_series_own_noise() {
        let cfg = inputs(1, 1, true);
        let (c, nc) = (position(&cfg, Component::CrossVariance), cfg.n_components());
        let m = follower();
        let mut s = FeatureState::new(cfg, 2, 1);
        let (mut lo, mut hi, mut burst) = (f32::MAX, f32::MIN, f32::MIN);
        for t in 0..4000 {
            // The noise doubles over the stream (a machine getting busier), then bursts ×5.
            let grow = 1.0 + t as f32 / 3400.0;
            let amp = if (3700..3760).contains(&t) {
                5.0 * grow
            } else {
                grow
            };
            let x0 = (t as f32 * 0.05).sin();
            let x1 = x0 + amp * jitter(t);
            let v = s.update(&[x0, x1], &out(vec![0.0, 0.0]), Some(&m))[nc + c];
            if (600..3700).contains(&t) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if (3700..3760).contains(&t) {
                burst = burst.max(v);
            }
        }
        // ln 4 = 1.39 of absolute change in the running variance; relative, it stays within a
        // band, and the burst (ln 25 = 3.2) stands out of it.
        assert!(hi - lo < 1.2, "{lo}..{hi}");
        assert!(burst > hi + 1.5, "burst {burst} vs {hi}");
    }

    #[test]
    fn running_means_are_bias_corrected() {
        let mut e = Ewma::EMPTY;
        for x in [1.0, 2.0, 3.0] {
            e.push(x, 0.5);
        }
        // Weights 0.25, 0.5, 1: (0.25 + 1 + 3) / 1.75.
        assert!((e.get(0.5) - 4.25 / 1.75).abs() < 1e-6, "{}", e.get(0.5));
        let mut slow = SlowMean::default();
        for t in 0..SLOW_WARM {
            slow.push(t as f32, SLOW_ALPHA);
        }
        assert!(
            (slow.get() - (SLOW_WARM - 1) as f32 / 2.0).abs() < 1e-3,
            "{}",
            slow.get()
        );
    }
}
