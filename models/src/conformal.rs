//! Split-conformal forecast quantiles: the empirical distribution of a model's residuals on
//! held-out windows, read at a fixed grid of levels with the finite-sample correction.
//!
//! For a horizon step `h` and variate `v`, let `r_1 ≤ … ≤ r_n` be the sorted residuals
//! `actual − forecast` of `n` calibration windows, on the model's scaled axis (so that series
//! with their own scalers share one grid; a forecast multiplies the value by its series' scale). The grid value at level `q` is the order
//! statistic
//!
//! - `r_⌈(n+1)q⌉` for `q ≥ ½` (clamped to `r_n`), and
//! - `r_⌊(n+1)q⌋` for `q < ½` (clamped to `r_1`),
//!
//! so that, when a new window's residual is exchangeable with the calibration ones,
//! `P(r ≤ value) ≥ q` for an upper level and `P(r ≥ value) ≥ 1 − q` for a lower one: the
//! quantile `forecast + value` of a central interval covers at least its nominal share
//! (split-conformal prediction, one conformal score per tail). The two tails come from their own
//! order statistics, so the intervals are asymmetric when the residuals are. Clamping means that
//! with fewer than `1/(1−q) − 1` windows the outermost levels are the sample's extremes, which
//! cannot promise the nominal coverage.
//!
//! A requested level between grid levels is interpolated linearly in normal-score space
//! (`z = Φ⁻¹(q)`); beyond the outermost levels the line through the two outermost knots
//! continues.
//!
//! Storage is bounded: a grid per step *and* variate while `levels × H × V ≤
//! [`PER_VARIATE_LIMIT`]`; otherwise one grid per step of residuals standardised by their own
//! step's and variate's root-mean-square residual `σ[h, v]` and pooled over variates (the value
//! is then a multiple of `σ[h, v]`, which the grid keeps).
use serde::{Deserialize, Serialize};

/// Grid levels: the tails of the 80, 90, 95, 98 and 99 % central intervals, and the deciles.
pub const LEVELS: [f64; 17] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995,
];

/// The largest `levels × horizon × variates` stored with one grid per step and variate.
pub const PER_VARIATE_LIMIT: usize = 1 << 17;

/// How the grid's values are laid out and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridLayout {
    /// `values[level][h][v]`: scaled residuals, one grid per step and variate.
    PerVariate,
    /// `values[level][h]`: scaled residuals divided by `sigma[h, v]`, pooled over variates.
    PooledStandardised,
}

/// Conformal residual quantiles of a model at the [`LEVELS`] grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidualQuantiles {
    /// Split whose windows were the calibration set (`val`).
    pub split: String,
    /// Calibration windows used (after subsampling).
    pub windows: usize,
    /// Horizon steps H.
    pub horizon: usize,
    /// Variates V.
    pub variates: usize,
    /// Grid levels, ascending in (0, 1).
    pub levels: Vec<f64>,
    /// How `values` is laid out.
    pub layout: GridLayout,
    /// Residual quantiles, level-major; see [`GridLayout`]. Non-decreasing along levels.
    pub values: Vec<f32>,
    /// `[H × V]` root-mean-square scaled residuals that the pooled layout standardises by;
    /// empty for [`GridLayout::PerVariate`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sigma: Vec<f32>,
    /// Locally adaptive grids: the residuals were divided by their window's volatility
    /// ([`window_volatility`], at least this floor per variate, `[V]`), and a forecast's offsets
    /// are multiplied by its own window's. `None`: plain residuals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volatility_floor: Option<Vec<f32>>,
}

/// The volatility of each variate of a look-back window `[L × V]` (row-major, any units):
/// the root-mean-square difference between consecutive observed values (non-finite values are
/// skipped, and so are the differences that touch them); 0 where fewer than two consecutive
/// values were observed.
pub fn window_volatility(window: &[f32], variates: usize) -> Vec<f32> {
    let rows = window.len() / variates.max(1);
    (0..variates)
        .map(|v| {
            let (mut sum, mut n) = (0f64, 0usize);
            for t in 1..rows {
                let (a, b) = (window[(t - 1) * variates + v], window[t * variates + v]);
                if a.is_finite() && b.is_finite() {
                    sum += f64::from(b - a).powi(2);
                    n += 1;
                }
            }
            if n == 0 {
                0.0
            } else {
                (sum / n as f64).sqrt() as f32
            }
        })
        .collect()
}

/// The share of the calibration windows' mean volatility below which a window's volatility is
/// raised (a stuck or constant window would otherwise get a zero-width interval).
pub const VOLATILITY_FLOOR_SHARE: f32 = 0.1;

/// The order statistic of `sorted` (ascending, non-empty) that is the conformal `q`-quantile.
pub fn conformal_order_statistic(sorted: &[f32], q: f64) -> f32 {
    let n = sorted.len();
    let pos = (n + 1) as f64 * q;
    // 1-based rank; the small tolerance keeps (n+1)q that is an integer in floating point exact.
    let rank = if q >= 0.5 {
        (pos - 1e-9).ceil()
    } else {
        (pos + 1e-9).floor()
    };
    let rank = (rank as usize).clamp(1, n);
    sorted[rank - 1]
}

/// Residuals of calibration windows: `[windows][horizon][variates]`, actual − forecast on the
/// scaled axis, `NaN` where the target was not observed.
#[derive(Debug, Clone)]
pub struct ResidualSample {
    /// Horizon steps H.
    pub horizon: usize,
    /// Variates V.
    pub variates: usize,
    /// `[windows × H × V]`, row-major.
    pub values: Vec<f32>,
}

impl ResidualSample {
    /// The sample divided by each window's volatility (`[windows × V]`, see
    /// [`window_volatility`]) raised to a floor of [`VOLATILITY_FLOOR_SHARE`] of the variate's
    /// mean volatility; returns the standardised sample and the floor `[V]`.
    pub fn standardised(&self, volatility: &[f32]) -> (Self, Vec<f32>) {
        let (h, v) = (self.horizon, self.variates);
        let windows = self.windows();
        let floor: Vec<f32> = (0..v)
            .map(|c| {
                let (sum, n) = (0..windows)
                    .map(|w| volatility[w * v + c])
                    .filter(|x| x.is_finite())
                    .fold((0f64, 0usize), |(s, n), x| (s + f64::from(x), n + 1));
                let mean = if n == 0 { 0.0 } else { (sum / n as f64) as f32 };
                (VOLATILITY_FLOOR_SHARE * mean).max(f32::MIN_POSITIVE)
            })
            .collect();
        let values = self
            .values
            .chunks_exact((h * v).max(1))
            .enumerate()
            .flat_map(|(w, window)| {
                let floor = &floor;
                window
                    .iter()
                    .enumerate()
                    .map(move |(i, r)| r / volatility[w * v + i % v].max(floor[i % v]))
            })
            .collect();
        (
            Self {
                horizon: h,
                variates: v,
                values,
            },
            floor,
        )
    }

    /// Windows held.
    pub fn windows(&self) -> usize {
        self.values.len() / (self.horizon * self.variates).max(1)
    }

    /// Root-mean-square residual per step and variate, `[H][V]` (0 where nothing was observed).
    pub fn rms(&self) -> Vec<Vec<f32>> {
        let hv = self.horizon * self.variates;
        let (mut se, mut n) = (vec![0f64; hv], vec![0usize; hv]);
        for window in self.values.chunks_exact(hv.max(1)) {
            for (i, r) in window.iter().enumerate() {
                if r.is_finite() {
                    se[i] += f64::from(*r).powi(2);
                    n[i] += 1;
                }
            }
        }
        (0..self.horizon)
            .map(|h| {
                (0..self.variates)
                    .map(|v| {
                        let i = h * self.variates + v;
                        if n[i] == 0 {
                            0.0
                        } else {
                            (se[i] / n[i] as f64).sqrt() as f32
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The conformal grid of this sample at `levels` (ascending in (0, 1)). `None` when some
    /// step (per variate: some step and variate) has no observed residual.
    pub fn quantiles(&self, levels: &[f64], split: &str) -> Option<ResidualQuantiles> {
        let (h_n, v_n) = (self.horizon, self.variates);
        let hv = h_n * v_n;
        let per_variate = levels.len() * hv <= PER_VARIATE_LIMIT;
        let sigma = if per_variate { Vec::new() } else { self.rms() };
        let groups = if per_variate { hv } else { h_n };
        let mut columns: Vec<Vec<f32>> = vec![Vec::with_capacity(self.windows()); groups];
        for window in self.values.chunks_exact(hv.max(1)) {
            for (i, r) in window.iter().enumerate() {
                if !r.is_finite() {
                    continue;
                }
                if per_variate {
                    columns[i].push(*r);
                } else {
                    let s = sigma[i / v_n][i % v_n];
                    if s > 0.0 {
                        columns[i / v_n].push(r / s);
                    }
                }
            }
        }
        let mut values = vec![0f32; levels.len() * groups];
        for (g, column) in columns.iter_mut().enumerate() {
            if column.is_empty() {
                return None;
            }
            column.sort_unstable_by(f32::total_cmp);
            for (l, &q) in levels.iter().enumerate() {
                values[l * groups + g] = conformal_order_statistic(column, q);
            }
        }
        Some(ResidualQuantiles {
            split: split.into(),
            windows: self.windows(),
            horizon: h_n,
            variates: v_n,
            levels: levels.to_vec(),
            layout: if per_variate {
                GridLayout::PerVariate
            } else {
                GridLayout::PooledStandardised
            },
            values,
            sigma: sigma.into_iter().flatten().collect(),
            volatility_floor: None,
        })
    }
}

impl ResidualQuantiles {
    /// Whether the grid's shape is consistent (levels ascending in (0, 1), every value finite,
    /// non-decreasing along levels, and `values` of the layout's length).
    pub fn is_valid(&self) -> bool {
        let (groups, sigma_len) = match self.layout {
            GridLayout::PerVariate => (self.horizon * self.variates, 0),
            GridLayout::PooledStandardised => (self.horizon, self.horizon * self.variates),
        };
        let sigma_ok = self.sigma.len() == sigma_len && self.sigma.iter().all(|s| s.is_finite() && *s >= 0.0);
        let floor_ok = self
            .volatility_floor
            .as_ref()
            .is_none_or(|f| f.len() == self.variates && f.iter().all(|x| x.is_finite() && *x > 0.0));
        let levels_ok = self.levels.len() >= 2
            && self.levels.iter().all(|q| *q > 0.0 && *q < 1.0)
            && self.levels.windows(2).all(|w| w[0] < w[1]);
        levels_ok
            && sigma_ok
            && floor_ok
            && groups > 0
            && self.values.len() == self.levels.len() * groups
            && self.values.iter().all(|v| v.is_finite())
            && (1..self.levels.len()).all(|l| {
                (0..groups).all(|g| self.values[(l - 1) * groups + g] <= self.values[l * groups + g])
            })
    }

    /// The scaled residual quantile at level `q` ∈ (0, 1) for step `h`, variate `v` (a
    /// forecast's quantile is `point + offset · unit[v]` in original units, with
    /// [`Self::unit`]). The grid must be [`Self::is_valid`] and `h`, `v` inside it.
    pub fn offset(&self, h: usize, v: usize, q: f64) -> f64 {
        let (groups, g, unit) = match self.layout {
            GridLayout::PerVariate => (self.horizon * self.variates, h * self.variates + v, 1.0),
            GridLayout::PooledStandardised => (self.horizon, h, f64::from(self.sigma[h * self.variates + v])),
        };
        let knot = |l: usize| {
            (
                normal_quantile(self.levels[l]),
                f64::from(self.values[l * groups + g]),
            )
        };
        let z = normal_quantile(q);
        let last = self.levels.len() - 1;
        // The segment holding z, or the outermost one on z's side.
        let upper = (1..=last)
            .find(|&l| z <= normal_quantile(self.levels[l]))
            .unwrap_or(last);
        let ((z0, y0), (z1, y1)) = (knot(upper - 1), knot(upper));
        let value = if z1 > z0 {
            y0 + (z - z0) * (y1 - y0) / (z1 - z0)
        } else {
            y1
        };
        value * unit
    }

    /// What variate `v`'s offsets are multiplied by for a series with scaler scale `scale` and
    /// look-back volatility `volatility` (on the scaled axis, [`window_volatility`] of the scaled
    /// window; read only by a locally adaptive grid).
    pub fn unit(&self, v: usize, scale: f32, volatility: Option<f32>) -> f32 {
        match &self.volatility_floor {
            Some(floor) => scale * volatility.unwrap_or(floor[v]).max(floor[v]),
            None => scale,
        }
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
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

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
    fn order_statistics_follow_the_finite_sample_rule() {
        let sorted: Vec<f32> = (1..=19).map(|i| i as f32).collect();
        // n = 19: (n+1)q = 20q.
        assert_eq!(conformal_order_statistic(&sorted, 0.9), 18.0);
        assert_eq!(conformal_order_statistic(&sorted, 0.95), 19.0);
        assert_eq!(
            conformal_order_statistic(&sorted, 0.99),
            19.0,
            "clamped to the maximum"
        );
        assert_eq!(conformal_order_statistic(&sorted, 0.1), 2.0);
        assert_eq!(conformal_order_statistic(&sorted, 0.05), 1.0);
        assert_eq!(
            conformal_order_statistic(&sorted, 0.01),
            1.0,
            "clamped to the minimum"
        );
        assert_eq!(conformal_order_statistic(&sorted, 0.5), 10.0);
        assert_eq!(conformal_order_statistic(&[3.0], 0.9), 3.0);
    }

    /// Exponential residuals (skewed): calibrated on one sample, the intervals cover a fresh
    /// sample at their nominal rate within sampling error, and the upper tail is the longer one.
    #[test]
    fn skewed_residuals_give_asymmetric_intervals_with_nominal_coverage() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (h, v) = (3, 2);
        let mut draw = |n: usize| -> ResidualSample {
            let values = (0..n * h * v)
                .map(|i| {
                    let e: f64 = -rng.random::<f64>().ln();
                    // Variate 1 has twice the spread.
                    ((e - 1.0) * (1.0 + (i % v) as f64)) as f32
                })
                .collect();
            ResidualSample {
                horizon: h,
                variates: v,
                values,
            }
        };
        let calibration = draw(2000);
        let grid = calibration.quantiles(&LEVELS, "val").unwrap();
        assert!(grid.is_valid());
        assert_eq!(grid.layout, GridLayout::PerVariate);
        let fresh = draw(20_000);
        for nominal in [0.8, 0.9, 0.95] {
            let (lo_q, hi_q) = ((1.0 - nominal) / 2.0, (1.0 + nominal) / 2.0);
            for (hh, vv) in [(0, 0), (2, 1)] {
                let (lo, hi) = (grid.offset(hh, vv, lo_q), grid.offset(hh, vv, hi_q));
                let column: Vec<f64> = fresh
                    .values
                    .chunks_exact(h * v)
                    .map(|w| f64::from(w[hh * v + vv]))
                    .collect();
                let covered = column.iter().filter(|r| **r >= lo && **r <= hi).count();
                let rate = covered as f64 / column.len() as f64;
                // Calibration sampling error at n = 2000 is about ±1 point.
                assert!((rate - nominal).abs() < 0.02, "{nominal}: {rate}");
                // Exp(1) − 1: the upper tail is longer than the lower one.
                assert!(hi.abs() > 1.3 * lo.abs(), "{lo} {hi}");
            }
        }
    }

    #[test]
    fn pooled_layout_scales_by_sigma_and_interpolates_in_normal_scores() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // 17 levels × 100 × 100 is over the per-variate limit.
        let (h, v) = (100, 100);
        let values = (0..300 * h * v)
            .map(|i| {
                let u: f64 = rng.random::<f64>() * 2.0 - 1.0;
                (u * (1.0 + (i % v) as f64)) as f32
            })
            .collect();
        let sample = ResidualSample {
            horizon: h,
            variates: v,
            values,
        };
        let grid = sample.quantiles(&LEVELS, "val").unwrap();
        assert_eq!(grid.layout, GridLayout::PooledStandardised);
        assert_eq!(grid.values.len(), LEVELS.len() * h);
        assert!(grid.is_valid());
        // Uniform(−a, a) has σ = a/√3: the standardised 0.95 quantile is about 0.9·√3.
        let at = grid.offset(5, 7, 0.95);
        let expected = 0.9 * 8.0;
        assert!((at - expected).abs() < 0.05 * expected, "{at} vs {expected}");
        // Between knots: monotone and between the neighbours.
        let (a, b, c) = (
            grid.offset(5, 7, 0.9),
            grid.offset(5, 7, 0.92),
            grid.offset(5, 7, 0.95),
        );
        assert!(a < b && b < c);
        // Past the last knot the outer segment continues upwards.
        assert!(grid.offset(5, 7, 0.999) > grid.offset(5, 7, 0.995));
    }

    #[test]
    fn unobserved_columns_give_no_grid() {
        let sample = ResidualSample {
            horizon: 1,
            variates: 2,
            values: vec![1.0, f32::NAN, 2.0, f32::NAN],
        };
        assert!(sample.quantiles(&LEVELS, "val").is_none());
    }
}
