//! Cross-variate prediction: each variate predicted linearly from the **other** variates at lags
//! `0..lags`, fitted by ridge regression on training rows. Its residual
//! `e_v(t) = x_v(t) − ŷ_v(t)` measures whether a sensor still follows the sensors it normally
//! follows, which a per-variate forecaster cannot see: a sensor that stops tracking its driver
//! but keeps its own mean, spread and autocorrelation (a broken correlation) forecasts as well as
//! before from its own past, while `e_v` grows from `σ²(1 − R²)` to about `σ²(1 + R²)` in
//! variance, where `R²` is the share of `x_v` the others explain.
//!
//! This is the conditional form of a Mahalanobis distance on the lagged value vector: the squared
//! distance decomposes into such conditional residuals, and keeping them per variate keeps the
//! attribution. Missing inputs are replaced by the variate's last finite value, at fitting and
//! at scoring alike.
//!
//! Values enter the regression **centred on their running level** (`x − m`, `m` an exponentially
//! weighted mean with weight [`CENTRE_ALPHA`], about 20 rows): the same linear
//! filter applied to every variate keeps any exact linear relation between them, but removes the
//! offsets and slow trends that separate a later stretch of a machine's life from its training
//! rows (on raw levels, a few weeks of trend made the residual of a healthy fleet 15 times
//! larger than in training). The current centred values `c_u` also enter as `c_u · m_u` and
//! `c_u²` ([`CrossModel::curved`]), so a sensor that follows its driver through a curve keeps
//! being predicted when the driver's level moves. Memory per series: `lags × variates` floats; work per point:
//! `variates² × lags`.
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Most regression inputs per variate: lags are cut to `MAX_INPUTS / variates` (at least one,
/// the same row), so wide datasets stay cheap per point.
pub const MAX_INPUTS: usize = 160;
/// Most lags (rows `t, t−1, …, t−MAX_LAGS+1`).
pub const MAX_LAGS: usize = 12;
/// Ridge penalty per row, relative to unit-variance (scaled) inputs.
const RIDGE: f64 = 1e-2;
/// Weight of the running level that values are centred on.
pub const CENTRE_ALPHA: f32 = 0.05;
/// Rows a history must have seen before its residuals are reported: the running level starts at
/// the first value and needs `3/α` = 60 rows to forget 95 % of it, else every new stream began
/// with a false alarm.
pub const WARM_ROWS: usize = 100;

/// Fitted cross-variate predictors of every variate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossModel {
    /// Variates.
    pub n_variates: usize,
    /// Rows of history used (lag 0 = the current row).
    pub lags: usize,
    /// Per variate `v`: intercept, then one weight per (lag, other variate `u ≠ v`), lag-major
    /// in increasing `u`, then (with [`CrossModel::curved`]) two per `u ≠ v` in increasing `u`:
    /// `c_u(t) · m_u(t)` and `c_u(t)²`. [variates][1 + lags · (variates − 1) (+ 2 (variates − 1))]
    pub coef: Vec<Vec<f32>>,
    /// Robust spread (`1.4826 · MAD`) of each variate's residual on the fit rows, [variates].
    #[serde(default)]
    pub scale: Vec<f32>,
    /// Whether the current centred values `c_u` of the other variates also enter multiplied
    /// by their running level `m_u` and squared. A sensor that follows its driver through a
    /// curve (electrical power = a + b·load + c·load²) has a gain `b + 2c·m` that moves with the
    /// driver's level; with linear terms alone, a machine that has become busier since its
    /// training rows leaves a residual that grows with every swing of the load. (Absent, i.e.
    /// linear, in detectors stored before.)
    #[serde(default)]
    pub curved: bool,
}

/// Residuals beyond this many [`CrossModel::scale`]s are clipped before they enter a running
/// variance: a one-row glitch is the one-step residual's to report, and unclipped it held the
/// running variance (on a log scale, where a healthy residual is small) up for hundreds of rows.
pub const RESIDUAL_CLIP: f32 = 4.0;

/// Lags used for `n_variates` variates.
pub fn lags_for(n_variates: usize) -> usize {
    (MAX_INPUTS / n_variates.max(1)).clamp(1, MAX_LAGS)
}

impl CrossModel {
    /// Fit on rows of scaled values, with the curved terms ([`CrossModel::curved`]). `series`: per series, its rows `[time][variates]` (NaN =
    /// missing) and which rows may be used as regression targets (`true` = use).
    ///
    /// Returns `None` for a single variate (nothing to predict from) or when fewer rows than
    /// inputs are usable.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a row has the wrong length.
    pub fn fit(series: &[(Vec<Vec<f32>>, Vec<bool>)], n_variates: usize) -> Result<Option<Self>> {
        Self::fit_with(series, n_variates, true)
    }

    /// [`CrossModel::fit`], with or without the curved terms.
    fn fit_with(
        series: &[(Vec<Vec<f32>>, Vec<bool>)],
        n_variates: usize,
        curved: bool,
    ) -> Result<Option<Self>> {
        let nv = n_variates;
        if nv < 2 {
            return Ok(None);
        }
        let lags = lags_for(nv);
        // Gram matrix of [1, x(t), x(t−1), …] over every usable row; each variate's system is
        // this matrix without its own columns.
        let p = 1 + lags * nv + if curved { 2 * nv } else { 0 };
        let mut gram = vec![0f64; p * p];
        let mut n = 0usize;
        let mut z = vec![0f64; p];
        for (rows, usable) in series {
            let mut hist = History::new(lags, nv);
            for (t, row) in rows.iter().enumerate() {
                if row.len() != nv {
                    return Err(Error::InvalidArgument {
                        field: "cross".into(),
                        reason: format!("a row has {} values, expected {nv}", row.len()),
                    });
                }
                hist.push(row);
                let ok = usable.get(t).copied().unwrap_or(false)
                    && hist.warm()
                    && row.iter().all(|x| x.is_finite());
                if !ok {
                    continue;
                }
                z[0] = 1.0;
                for lag in 0..lags {
                    for u in 0..nv {
                        z[1 + lag * nv + u] = f64::from(hist.get(lag, u));
                    }
                }
                if curved {
                    for u in 0..nv {
                        let (c, m) = (f64::from(hist.get(0, u)), f64::from(hist.level(u)));
                        z[1 + lags * nv + 2 * u] = c * m;
                        z[1 + lags * nv + 2 * u + 1] = c * c;
                    }
                }
                for i in 0..p {
                    let zi = z[i];
                    for j in i..p {
                        gram[i * p + j] += zi * z[j];
                    }
                }
                n += 1;
            }
        }
        let inputs = 1 + (lags + if curved { 2 } else { 0 }) * (nv - 1);
        if n < 2 * inputs {
            return Ok(None);
        }
        for i in 0..p {
            for j in 0..i {
                gram[i * p + j] = gram[j * p + i];
            }
        }
        let mut coef = Vec::with_capacity(nv);
        for v in 0..nv {
            // Columns of the inputs (intercept, every lag of u ≠ v, the curved terms of u ≠ v) and
            // of the target x_v(t).
            let curve = (0..nv)
                .filter(move |&u| curved && u != v)
                .flat_map(move |u| [1 + lags * nv + 2 * u, 2 + lags * nv + 2 * u]);
            let cols: Vec<usize> = std::iter::once(0)
                .chain(
                    (0..lags).flat_map(|lag| (0..nv).filter(move |&u| u != v).map(move |u| 1 + lag * nv + u)),
                )
                .chain(curve)
                .collect();
            let target = 1 + v;
            let k = cols.len();
            let mut a = vec![0f64; k * k];
            let mut b = vec![0f64; k];
            for (i, &ci) in cols.iter().enumerate() {
                for (j, &cj) in cols.iter().enumerate() {
                    a[i * k + j] = gram[ci * p + cj];
                }
                b[i] = gram[ci * p + target];
                if i > 0 {
                    a[i * k + i] += RIDGE * n as f64;
                }
            }
            let w = solve_spd(&mut a, &mut b, k).ok_or_else(|| {
                Error::Internal(format!(
                    "cross-variate system of variate {v} is not positive definite"
                ))
            })?;
            coef.push(w.iter().map(|&x| x as f32).collect());
        }
        let mut model = Self {
            n_variates: nv,
            lags,
            coef,
            scale: Vec::new(),
            curved,
        };
        // Second pass: the residual spread on the same rows.
        let mut res: Vec<Vec<f64>> = vec![Vec::new(); nv];
        for (rows, usable) in series {
            let mut hist = History::new(lags, nv);
            for (t, row) in rows.iter().enumerate() {
                hist.push(row);
                if usable.get(t).copied().unwrap_or(false) && hist.warm() {
                    for (v, e) in model.residuals(&hist).into_iter().enumerate() {
                        if e.is_finite() {
                            res[v].push(f64::from(e));
                        }
                    }
                }
            }
        }
        model.scale = res
            .iter()
            .map(|r| crate::normalise::robust_centre_scale(r).map_or(1.0, |(_, s)| s.max(1e-3) as f32))
            .collect();
        Ok(Some(model))
    }

    /// Residual `e` of variate `v` clipped at ±[`RESIDUAL_CLIP`] scales (unclipped when the
    /// model has no scales).
    pub fn clip(&self, v: usize, e: f32) -> f32 {
        match self.scale.get(v) {
            Some(&s) => e.clamp(-RESIDUAL_CLIP * s, RESIDUAL_CLIP * s),
            None => e,
        }
    }

    /// The residual `x_v(t) − ŷ_v(t)` of every variate, given the history (whose lag 0 is row
    /// `t`); NaN for a variate whose current value is missing.
    pub fn residuals(&self, hist: &History) -> Vec<f32> {
        let nv = self.n_variates;
        (0..nv)
            .map(|v| {
                let x = hist.raw(v);
                if !x.is_finite() {
                    return f32::NAN;
                }
                let w = &self.coef[v];
                let mut y = w[0];
                let mut i = 1;
                for lag in 0..self.lags {
                    for u in (0..nv).filter(|&u| u != v) {
                        y += w[i] * hist.get(lag, u);
                        i += 1;
                    }
                }
                if self.curved {
                    for u in (0..nv).filter(|&u| u != v) {
                        let c = hist.get(0, u);
                        y += w[i] * c * hist.level(u) + w[i + 1] * c * c;
                        i += 2;
                    }
                }
                x - y
            })
            .collect()
    }
}

/// The last `lags` rows of a series, centred on each variate's running level, missing values
/// replaced by the variate's last finite value (0, the scaled mean, before the first one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    lags: usize,
    n_variates: usize,
    /// [lags][variates] ring of centred values, newest at `head`.
    rows: Vec<f32>,
    head: usize,
    filled: usize,
    /// The newest row, centred (NaN where missing).
    current: Vec<f32>,
    /// Running level of each variate (NaN before its first finite value).
    level: Vec<f32>,
    /// Last finite value of each variate (0 before the first).
    last: Vec<f32>,
    /// Rows pushed (saturating).
    seen: usize,
}

impl History {
    /// An empty history.
    pub fn new(lags: usize, n_variates: usize) -> Self {
        Self {
            lags: lags.max(1),
            n_variates,
            rows: vec![0.0; lags.max(1) * n_variates],
            head: 0,
            filled: 0,
            current: vec![f32::NAN; n_variates],
            level: vec![f32::NAN; n_variates],
            last: vec![0.0; n_variates],
            seen: 0,
        }
    }

    /// Append a row.
    pub fn push(&mut self, row: &[f32]) {
        let nv = self.n_variates;
        self.head = (self.head + self.lags - 1) % self.lags;
        for (v, &x) in row.iter().enumerate().take(nv) {
            if x.is_finite() {
                self.last[v] = x;
            }
            let x_in = self.last[v];
            let m = &mut self.level[v];
            if m.is_nan() {
                *m = x_in;
            } else {
                *m += CENTRE_ALPHA * (x_in - *m);
            }
            self.rows[self.head * nv + v] = x_in - *m;
            self.current[v] = if x.is_finite() { x - *m } else { f32::NAN };
        }
        self.filled = (self.filled + 1).min(self.lags);
        self.seen = self.seen.saturating_add(1);
    }

    /// Whether `lags` rows have been pushed.
    pub fn full(&self) -> bool {
        self.filled == self.lags
    }

    /// Whether the running levels have settled ([`WARM_ROWS`] rows pushed).
    pub fn warm(&self) -> bool {
        self.full() && self.seen >= WARM_ROWS
    }

    /// Centred value of variate `v`, `lag` rows back (imputed).
    pub fn get(&self, lag: usize, v: usize) -> f32 {
        self.rows[((self.head + lag) % self.lags) * self.n_variates + v]
    }

    /// The running level of variate `v` (its imputed values' exponentially weighted mean; 0
    /// before its first value).
    pub fn level(&self, v: usize) -> f32 {
        let m = self.level[v];
        if m.is_nan() { 0.0 } else { m }
    }

    /// The newest centred value of variate `v` (NaN when missing).
    pub fn raw(&self, v: usize) -> f32 {
        self.current[v]
    }
}

/// Solve `A w = b` for symmetric positive definite `A` ([k, k] row-major) by Cholesky; `None`
/// when `A` is not positive definite. `A` and `b` are overwritten.
fn solve_spd(a: &mut [f64], b: &mut [f64], k: usize) -> Option<Vec<f64>> {
    // A = L Lᵀ, L stored in the lower triangle.
    for j in 0..k {
        let mut d = a[j * k + j];
        for m in 0..j {
            d -= a[j * k + m] * a[j * k + m];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= a[i * k + m] * a[j * k + m];
            }
            a[i * k + j] = s / d;
        }
    }
    // L y = b, then Lᵀ w = y.
    for i in 0..k {
        let mut s = b[i];
        for m in 0..i {
            s -= a[i * k + m] * b[m];
        }
        b[i] = s / a[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = b[i];
        for m in i + 1..k {
            s -= a[m * k + i] * b[m];
        }
        b[i] = s / a[i * k + i];
    }
    Some(b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn cholesky_solves_a_known_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1] → w = [0.5, 0].
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        let w = solve_spd(&mut a, &mut b, 2).unwrap();
        assert!((w[0] - 0.5).abs() < 1e-12 && w[1].abs() < 1e-12, "{w:?}");
        let mut bad = vec![1.0, 2.0, 2.0, 1.0];
        assert!(solve_spd(&mut bad, &mut [0.0, 0.0], 2).is_none());
    }

    fn normal(rng: &mut ChaCha8Rng) -> f32 {
        // Box–Muller.
        let (u1, u2): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random_range(0.0..1.0));
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// RMS of variate 1's residual under `m` over `rows`, from row `from` on once the history
    /// is warm.
    fn residual_rms(m: &CrossModel, rows: &[Vec<f32>], from: usize) -> f32 {
        let mut h = History::new(m.lags, m.n_variates);
        let (mut s, mut n) = (0.0, 0);
        for (t, r) in rows.iter().enumerate() {
            h.push(r);
            if t >= from && h.warm() {
                s += m.residuals(&h)[1].powi(2);
                n += 1;
            }
        }
        (s / n as f32).sqrt()
    }

    /// x0 free AR(1); x1 = 0.8 x0(t−2) + noise; x2 free noise.
    fn driven(n: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x0 = vec![0f32; n];
        for t in 1..n {
            x0[t] = 0.7 * x0[t - 1] + normal(&mut rng);
        }
        (0..n)
            .map(|t| {
                let d = if t >= 2 { x0[t - 2] } else { 0.0 };
                vec![x0[t], 0.8 * d + 0.3 * normal(&mut rng), normal(&mut rng)]
            })
            .collect()
    }

    #[test]
    fn recovers_a_lagged_driver_and_its_residual_grows_when_the_link_breaks() {
        let rows = driven(4000, 1);
        let usable = vec![true; rows.len()];
        let m = CrossModel::fit(&[(rows.clone(), usable)], 3).unwrap().unwrap();
        assert_eq!(m.lags, MAX_LAGS);
        // Inputs of variate 1: intercept, then per lag (u = 0, u = 2): lag 2, u = 0 is index 1 + 2·2.
        assert!((m.coef[1][5] - 0.8).abs() < 0.05, "{:?}", m.coef[1]);
        // Its residual is the 0.3 noise.
        assert!((m.scale[1] - 0.3).abs() < 0.03, "{:?}", m.scale);
        let rms = |rows: &[Vec<f32>]| residual_rms(&m, rows, 0);
        let normal_rms = rms(&driven(2000, 2));
        assert!((normal_rms - 0.3).abs() < 0.05, "{normal_rms}");
        // Break the link: x1 replaced by an independent series of the same spread.
        let mut broken = driven(2000, 3);
        let other = driven(2000, 4);
        for (r, o) in broken.iter_mut().zip(&other) {
            r[1] = o[1];
        }
        let broken_rms = rms(&broken);
        assert!(broken_rms > 3.0 * normal_rms, "{broken_rms} vs {normal_rms}");
    }

    #[test]
    fn missing_inputs_use_the_last_value_and_missing_targets_give_nan() {
        let mut h = History::new(2, 2);
        h.push(&[1.0, 2.0]);
        h.push(&[f32::NAN, 3.0]);
        // Levels start at the first values (1, 2): x0 stays 1 (imputed), centred 0; x1 = 3 is
        // 1 above a level that moved by α to 2 + α.
        assert_eq!(h.get(0, 0), 0.0);
        assert_eq!(h.get(1, 1), 0.0);
        assert!((h.get(0, 1) - (1.0 - CENTRE_ALPHA)).abs() < 1e-6);
        let m = CrossModel {
            n_variates: 2,
            lags: 2,
            coef: vec![vec![0.0, 1.0, 0.0], vec![0.5, 1.0, 0.0]],
            scale: vec![0.1, 0.1],
            curved: false,
        };
        assert!((m.clip(1, 3.0) - RESIDUAL_CLIP * 0.1).abs() < 1e-6);
        let r = m.residuals(&h);
        assert!(r[0].is_nan());
        // Centred x1 = 1 − α, ŷ1 = 0.5 + 1 · (centred x0 = 0).
        assert!((r[1] - (0.5 - CENTRE_ALPHA)).abs() < 1e-6, "{}", r[1]);
    }

    #[test]
    fn a_common_level_offset_or_trend_leaves_the_residual_unchanged() {
        let rows = driven(4000, 6);
        let m = CrossModel::fit(&[(rows, vec![true; 4000])], 3).unwrap().unwrap();
        let rms = |rows: &[Vec<f32>]| residual_rms(&m, rows, 1000);
        let base = driven(3000, 7);
        // Every sensor of the machine offset and trending (a later stretch of its life).
        let moved: Vec<Vec<f32>> = base
            .iter()
            .enumerate()
            .map(|(t, r)| {
                r.iter()
                    .enumerate()
                    .map(|(v, x)| x + 2.0 + v as f32 + 1e-3 * t as f32)
                    .collect()
            })
            .collect();
        let (a, b) = (rms(&base), rms(&moved));
        // Within 15 %: the curved terms (c·m) let the gain follow the level, so a level offset
        // is not quite invisible, but on linear data their weights are small.
        assert!((b / a - 1.0).abs() < 0.15, "{a} vs {b}");
    }

    /// x0 an AR(1) around `level`; x1 = 2·x0 + x0² + 0.1 noise (a sensor on a curve).
    fn curve(n: usize, level: f32, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut a = 0f32;
        (0..n)
            .map(|_| {
                a = 0.9 * a + 0.3 * normal(&mut rng);
                let x0 = level + a;
                vec![x0, 2.0 * x0 + x0 * x0 + 0.1 * normal(&mut rng)]
            })
            .collect()
    }

    #[test]
    fn curved_terms_follow_a_driver_that_moved_to_a_busier_level() {
        let train = curve(6000, 0.0, 8);
        let rms = |m: &CrossModel, rows: &[Vec<f32>]| residual_rms(m, rows, 200);
        let busy = curve(3000, 1.5, 9);
        let curved = CrossModel::fit(&[(train.clone(), vec![true; 6000])], 2)
            .unwrap()
            .unwrap();
        let linear = CrossModel::fit_with(&[(train.clone(), vec![true; 6000])], 2, false)
            .unwrap()
            .unwrap();
        assert!(curved.curved && !linear.curved);
        let (c_train, c_busy) = (rms(&curved, &train), rms(&curved, &busy));
        let (l_train, l_busy) = (rms(&linear, &train), rms(&linear, &busy));
        // The local gain 2 + 2·x0 moves with x0's level (measured: curved 0.20 → 0.41, linear
        // 0.58 → 1.85 when the level moves from 0 to 1.5, where the gain is 5 instead of 2).
        assert!(
            c_train < 0.5 * l_train && l_busy > 3.0 * l_train && c_busy < 0.3 * l_busy,
            "curved {c_train} → {c_busy}, linear {l_train} → {l_busy}"
        );
    }

    #[test]
    fn single_variates_and_short_data_fit_nothing() {
        let rows = vec![vec![1.0]; 100];
        assert!(CrossModel::fit(&[(rows, vec![true; 100])], 1).unwrap().is_none());
        let rows = driven(20, 5);
        assert!(CrossModel::fit(&[(rows, vec![true; 20])], 3).unwrap().is_none());
    }
}
