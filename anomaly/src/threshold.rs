//! Thresholds on calibrated scores, fitted on validation scores only (never on test labels):
//! an empirical quantile, or extreme-value theory (peaks over threshold with a generalised
//! Pareto fit, Siffer et al., "Anomaly Detection in Streams with Extreme Value Theory", KDD 2017).
//!
//! POT: with `u` = the `init_quantile` of the scores, the `N_t` excesses `y = x − u` are fitted
//! by a GPD(ξ, σ) (maximum likelihood, Grimshaw's one-dimensional profile), and the threshold
//! for tail probability `risk` over `n` scores is `u + σ/ξ · ((risk·n/N_t)^(−ξ) − 1)`
//! (`u − σ·ln(risk·n/N_t)` when ξ = 0).
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How to choose the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ThresholdMethod {
    /// The `q` quantile of the validation scores (e.g. 0.995).
    Quantile {
        /// Quantile in (0, 1).
        q: f64,
    },
    /// Peaks over threshold with a GPD tail.
    Pot {
        /// Quantile of the initial threshold `u` (e.g. 0.98).
        init_quantile: f64,
        /// Tail probability of the final threshold (e.g. 1e-3).
        risk: f64,
    },
    /// Peaks over threshold fitted on the **band** between the `init_quantile` and the
    /// `1 − trim` quantile only, as a truncated exponential tail: the top `trim` of the scores,
    /// where the incidents of an unlabelled history lie, never enters the fit. See
    /// [`fit_truncated_exponential`].
    Trimmed {
        /// Quantile of the initial threshold `u` (below `1 − trim`, e.g. 0.85).
        init_quantile: f64,
        /// Largest share of the scores that may be incidents (e.g. 0.05).
        trim: f64,
        /// Tail probability of the final threshold for normal scores (e.g. 1e-3).
        risk: f64,
    },
    /// A fixed value on the calibrated scale.
    Fixed {
        /// The threshold.
        value: f64,
    },
}

impl ThresholdMethod {
    /// Plain POT: `pot:0.98:1e-3`.
    pub const POT: Self = Self::Pot {
        init_quantile: 0.98,
        risk: 1e-3,
    };
    /// Trimmed POT: `trimmed:0.85:0.05:1e-3`.
    pub const TRIMMED: Self = Self::Trimmed {
        init_quantile: 0.85,
        trim: 0.05,
        risk: 1e-3,
    };
    /// The streaming monitor's threshold, `trimmed:0.85:0.05:1e-4`: a point-wise risk of 1e-3 is
    /// about one false flag every 3.5 days per series at 5-minute sampling, and flags cluster
    /// into alarms; 1e-4 cut the simulated fleets' false alarms from 18 to 8 over six seeds for
    /// one more miss (BENCHMARKS.md §9).
    pub const MONITORING: Self = Self::Trimmed {
        init_quantile: 0.85,
        trim: 0.05,
        risk: 1e-4,
    };
}

impl Default for ThresholdMethod {
    /// [`ThresholdMethod::TRIMMED`]: histories hold incidents, and plain POT fitted on them puts
    /// its threshold among the incidents.
    fn default() -> Self {
        Self::TRIMMED
    }
}

impl std::str::FromStr for ThresholdMethod {
    type Err = String;

    /// `quantile:0.995`, `pot:0.98:1e-3`, `pot` ([`ThresholdMethod::POT`]),
    /// `trimmed:0.85:0.05:1e-3`, `trimmed` ([`ThresholdMethod::TRIMMED`]) or `fixed:4.5`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |i: usize| -> std::result::Result<f64, String> {
            parts
                .get(i)
                .ok_or_else(|| format!("{s:?}: missing number {i}"))?
                .parse::<f64>()
                .map_err(|e| format!("{s:?}: {e}"))
        };
        match parts[0] {
            "quantile" => Ok(Self::Quantile { q: num(1)? }),
            "pot" if parts.len() == 1 => Ok(Self::POT),
            "trimmed" if parts.len() == 1 => Ok(Self::TRIMMED),
            "trimmed" => Ok(Self::Trimmed {
                init_quantile: num(1)?,
                trim: num(2)?,
                risk: num(3)?,
            }),
            "pot" => Ok(Self::Pot {
                init_quantile: num(1)?,
                risk: num(2)?,
            }),
            "fixed" => Ok(Self::Fixed { value: num(1)? }),
            other => Err(format!(
                "unknown threshold {other:?}: expected quantile:Q, pot[:INIT_Q:RISK], trimmed[:INIT_Q:TRIM:RISK] or fixed:V"
            )),
        }
    }
}

/// A fitted GPD tail: `P(X > u + y | X > u) = (1 + ξ y / σ)^(−1/ξ)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpdFit {
    /// Shape ξ.
    pub xi: f64,
    /// Scale σ > 0.
    pub sigma: f64,
    /// Initial threshold u.
    pub u: f64,
    /// Number of excesses N_t.
    pub n_excess: usize,
    /// Number of scores n.
    pub n: usize,
}

impl GpdFit {
    /// The value exceeded with probability `risk` under the fitted tail.
    pub fn quantile(&self, risk: f64) -> f64 {
        let r = risk * self.n as f64 / self.n_excess as f64;
        if self.xi.abs() < 1e-9 {
            self.u - self.sigma * r.ln()
        } else {
            self.u + self.sigma / self.xi * (r.powf(-self.xi) - 1.0)
        }
    }
}

/// The empirical `q` quantile (linear interpolation) of finite values; `None` when there is none.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// Maximum-likelihood GPD fit of positive excesses `y` (Grimshaw's profile over θ = ξ/σ: for a
/// given θ, ξ(θ) = mean ln(1 + θy) and σ = ξ/θ; θ is searched on a grid over
/// (−1/max y, 2/mean y] refined by golden section, and compared with the exponential fit ξ = 0).
/// Returns `(ξ, σ)`.
pub fn fit_gpd(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let ymax = y.iter().copied().fold(0.0_f64, f64::max);
    // Profile log-likelihood of θ (≠ 0).
    let ll = |theta: f64| -> f64 {
        let mut s = 0.0;
        for &v in y {
            let a = 1.0 + theta * v;
            if a <= 0.0 {
                return f64::NEG_INFINITY;
            }
            s += a.ln();
        }
        let xi = s / n;
        if xi.abs() < 1e-12 {
            return f64::NEG_INFINITY;
        }
        let sigma = xi / theta;
        if sigma <= 0.0 {
            return f64::NEG_INFINITY;
        }
        -n * sigma.ln() - (1.0 + 1.0 / xi) * s
    };
    let exp_ll = -n * mean.ln() - n;
    let mut best = (exp_ll, 0.0_f64);
    let lo = -1.0 / ymax * (1.0 - 1e-6);
    let hi = 2.0 / mean;
    let grid = 400;
    let mut candidates = Vec::with_capacity(grid);
    for i in 0..=grid {
        let t = lo + (hi - lo) * i as f64 / grid as f64;
        if t.abs() > 1e-9 * hi.abs() {
            candidates.push((ll(t), t));
        }
    }
    let step = (hi - lo) / grid as f64;
    for &(v, t) in &candidates {
        if v > best.0 {
            best = (v, t);
        }
    }
    if best.1 != 0.0 {
        // Golden-section refinement around the best grid point.
        let (mut a, mut b) = ((best.1 - step).max(lo), (best.1 + step).min(hi));
        let g = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..80 {
            let c = b - g * (b - a);
            let d = a + g * (b - a);
            if ll(c) > ll(d) {
                b = d;
            } else {
                a = c;
            }
        }
        let t = (a + b) / 2.0;
        if ll(t) > best.0 {
            best = (ll(t), t);
        }
    }
    if best.1 == 0.0 {
        return (0.0, mean);
    }
    let theta = best.1;
    let xi = y.iter().map(|v| (1.0 + theta * v).ln()).sum::<f64>() / n;
    (xi, xi / theta)
}

/// Maximum-likelihood exponential fit of excesses `y ∈ (0, c]` of a sample **truncated** at `c`:
/// the log-likelihood `−m ln σ − Σ y/σ − m ln(1 − e^{−c/σ})` conditions each excess on landing in
/// the band, so nothing above `c` is used, not even the count; `ln σ` is found by golden section.
/// A band between two quantiles is too narrow to estimate a GPD shape as well (ξ errors of ±0.3
/// turn into thresholds several times too high or too low at a risk of 1e-3), so the trimmed
/// threshold assumes the exponential tail, the limit for maxima of light-tailed z-scores.
/// Returns `σ`.
pub fn fit_truncated_exponential(y: &[f64], c: f64) -> f64 {
    let m = y.len() as f64;
    let sum: f64 = y.iter().sum();
    let ll = |ln_sigma: f64| -> f64 {
        let sigma = ln_sigma.exp();
        let band = -(-c / sigma).exp_m1();
        if band <= 0.0 {
            return f64::NEG_INFINITY;
        }
        -m * ln_sigma - sum / sigma - m * band.ln()
    };
    let (mut a, mut b) = ((c * 1e-3).ln(), (c * 1e3).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..100 {
        let p = b - g * (b - a);
        let q = a + g * (b - a);
        if ll(p) > ll(q) {
            b = q;
        } else {
            a = p;
        }
    }
    ((a + b) / 2.0).exp()
}

/// A threshold fitted on validation scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// How it was chosen.
    pub method: ThresholdMethod,
    /// The threshold on the calibrated scale (a point is flagged when its score is above it).
    pub value: f64,
    /// The GPD fit, for POT.
    pub gpd: Option<GpdFit>,
}

impl Threshold {
    /// Fit `method` on `scores` (calibrated validation scores).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for out-of-range settings or no finite score. POT with fewer
    /// than 10 excesses falls back to the empirical `1 − risk` quantile.
    pub fn fit(method: ThresholdMethod, scores: &[f64]) -> Result<Self> {
        let bad = |reason: String| Error::InvalidArgument {
            field: "threshold".into(),
            reason,
        };
        match method {
            ThresholdMethod::Fixed { value } => Ok(Self {
                method,
                value,
                gpd: None,
            }),
            ThresholdMethod::Quantile { q } => {
                if !(0.0..1.0).contains(&q) {
                    return Err(bad(format!("quantile {q} is not in [0, 1)")));
                }
                let value = quantile(scores, q).ok_or_else(|| bad("no finite validation score".into()))?;
                Ok(Self {
                    method,
                    value,
                    gpd: None,
                })
            }
            ThresholdMethod::Pot { init_quantile, risk } => {
                if !((0.0..1.0).contains(&init_quantile) && risk > 0.0 && risk < 1.0 - init_quantile) {
                    return Err(bad(format!(
                        "pot needs 0 ≤ init_quantile < 1 and 0 < risk < 1 − init_quantile, got {init_quantile}, {risk}"
                    )));
                }
                let finite: Vec<f64> = scores.iter().copied().filter(|x| x.is_finite()).collect();
                let u = quantile(&finite, init_quantile)
                    .ok_or_else(|| bad("no finite validation score".into()))?;
                let excess: Vec<f64> = finite.iter().filter(|&&x| x > u).map(|x| x - u).collect();
                if excess.len() < 10 {
                    // Too few distinct tail values for a GPD fit (ties at u): fall back to the
                    // empirical quantile, never below u.
                    let q = quantile(&finite, 1.0 - risk).unwrap_or(u);
                    tracing::warn!(
                        excesses = excess.len(),
                        "POT: too few excesses for a GPD fit; using the empirical quantile"
                    );
                    return Ok(Self {
                        method,
                        value: q.max(u),
                        gpd: None,
                    });
                }
                let (xi, sigma) = fit_gpd(&excess);
                let gpd = GpdFit {
                    xi,
                    sigma,
                    u,
                    n_excess: excess.len(),
                    n: finite.len(),
                };
                Ok(Self {
                    method,
                    value: gpd.quantile(risk),
                    gpd: Some(gpd),
                })
            }
            ThresholdMethod::Trimmed {
                init_quantile,
                trim,
                risk,
            } => {
                if !(trim > 0.0
                    && trim < 0.5
                    && (0.0..1.0 - trim).contains(&init_quantile)
                    && risk > 0.0
                    && risk < trim)
                {
                    return Err(bad(format!(
                        "trimmed needs 0 < trim < 0.5, 0 ≤ init_quantile < 1 − trim and 0 < risk < trim, \
                         got {init_quantile}, {trim}, {risk}"
                    )));
                }
                let finite: Vec<f64> = scores.iter().copied().filter(|x| x.is_finite()).collect();
                let u = quantile(&finite, init_quantile)
                    .ok_or_else(|| bad("no finite validation score".into()))?;
                let c = quantile(&finite, 1.0 - trim).unwrap_or(u);
                let band: Vec<f64> = finite
                    .iter()
                    .filter(|&&x| x > u && x <= c)
                    .map(|x| x - u)
                    .collect();
                if band.len() < 10 || c <= u {
                    // Ties fill the band: no tail to fit. The top of the band is the best
                    // estimate left that no incident can have raised.
                    tracing::warn!(
                        excesses = band.len(),
                        "trimmed POT: too few excesses in the band; using its top"
                    );
                    return Ok(Self {
                        method,
                        value: c,
                        gpd: None,
                    });
                }
                // A band whose density does not fall (bounded or flat scores, e.g. a smooth
                // periodic signal) has no exponential tail and drives σ to its search bound; an
                // exponential band of width w = c − u has σ ≈ w / ln((1 − q) / trim) ≤ w, so σ is
                // capped at 2w.
                let sigma = fit_truncated_exponential(&band, c - u).min(2.0 * (c - u));
                // P(X > u) for normal scores is 1 − init_quantile (incidents, at most `trim`,
                // shift it little); the GPD carries the tail beyond.
                let n = finite.len();
                let n_excess = ((1.0 - init_quantile) * n as f64).round().max(1.0) as usize;
                let gpd = GpdFit {
                    xi: 0.0,
                    sigma,
                    u,
                    n_excess,
                    n,
                };
                Ok(Self {
                    method,
                    value: gpd.quantile(risk).max(c),
                    gpd: Some(gpd),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform (0, 1] draws from SplitMix64 (no rand dependency in this crate).
    pub(crate) fn uniform(n: usize, seed: u64) -> Vec<f64> {
        let mut z = seed;
        (0..n)
            .map(|_| {
                z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut x = z;
                x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                x ^= x >> 31;
                ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn quantile_interpolates() {
        let v = [4.0, 1.0, 3.0, 2.0, f64::NAN];
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn pot_recovers_exponential_quantile() {
        // Exp(1): P(X > x) = e^-x, so the 1e-4 tail quantile is ln(1e4) = 9.21.
        let x: Vec<f64> = uniform(200_000, 1).into_iter().map(|u| -u.ln()).collect();
        let t = Threshold::fit(
            ThresholdMethod::Pot {
                init_quantile: 0.98,
                risk: 1e-4,
            },
            &x,
        )
        .unwrap();
        let g = t.gpd.unwrap();
        assert!(g.xi.abs() < 0.05, "xi {}", g.xi);
        let truth = 1e4f64.ln();
        assert!((t.value - truth).abs() / truth < 0.05, "{} vs {truth}", t.value);
        // The empirical quantile needs far more data in the tail; POT extrapolates.
        assert!(t.value > quantile(&x, 0.98).unwrap());
    }

    #[test]
    fn pot_recovers_pareto_tail() {
        // GPD(ξ = 0.25, σ = 1) from 0: x = σ/ξ ((1−U)^−ξ − 1); tail quantile at p is σ/ξ (p^−ξ − 1).
        let (xi, sigma) = (0.25, 1.0);
        let x: Vec<f64> = uniform(200_000, 2)
            .into_iter()
            .map(|u| sigma / xi * (u.powf(-xi) - 1.0))
            .collect();
        let risk = 1e-4;
        let t = Threshold::fit(
            ThresholdMethod::Pot {
                init_quantile: 0.95,
                risk,
            },
            &x,
        )
        .unwrap();
        let g = t.gpd.unwrap();
        assert!((g.xi - xi).abs() < 0.08, "xi {}", g.xi);
        let truth = sigma / xi * (risk.powf(-xi) - 1.0);
        assert!((t.value - truth).abs() / truth < 0.12, "{} vs {truth}", t.value);
    }

    #[test]
    fn parses_methods_and_rejects_bad_settings() {
        assert_eq!(
            "quantile:0.99".parse::<ThresholdMethod>().unwrap(),
            ThresholdMethod::Quantile { q: 0.99 }
        );
        assert_eq!("pot".parse::<ThresholdMethod>().unwrap(), ThresholdMethod::POT);
        assert_eq!(
            "trimmed".parse::<ThresholdMethod>().unwrap(),
            ThresholdMethod::default()
        );
        assert_eq!(
            "trimmed:0.9:0.02:1e-4".parse::<ThresholdMethod>().unwrap(),
            ThresholdMethod::Trimmed {
                init_quantile: 0.9,
                trim: 0.02,
                risk: 1e-4
            }
        );
        assert!(Threshold::fit("trimmed:0.97:0.05:1e-3".parse().unwrap(), &[1.0]).is_err());
        assert!("nope".parse::<ThresholdMethod>().is_err());
        assert!(Threshold::fit(ThresholdMethod::Quantile { q: 1.5 }, &[1.0]).is_err());
        // Too few excesses: the empirical quantile, no GPD.
        let t = Threshold::fit(ThresholdMethod::POT, &[1.0, 2.0]).unwrap();
        assert!(t.gpd.is_none() && t.value <= 2.0 && t.value >= 1.0);
        assert!(Threshold::fit(ThresholdMethod::POT, &[f64::NAN]).is_err());
        let t = Threshold::fit(ThresholdMethod::TRIMMED, &[1.0, 2.0]).unwrap();
        assert!(t.gpd.is_none() && t.value <= 2.0 && t.value >= 1.0);
    }

    #[test]
    fn truncated_fit_recovers_the_tail_from_the_band_alone() {
        // Exp(σ = 2) from 0, cut at its 95 % point: the fit sees only the band.
        let x: Vec<f64> = uniform(50_000, 3).into_iter().map(|u| -2.0 * u.ln()).collect();
        let c = quantile(&x, 0.95).unwrap();
        let band: Vec<f64> = x.iter().copied().filter(|&v| v <= c).collect();
        let sigma = fit_truncated_exponential(&band, c);
        assert!((sigma - 2.0).abs() < 0.05, "sigma {sigma}");
        // The untruncated mean of the band would be far too small.
        assert!(band.iter().sum::<f64>() / (band.len() as f64) < 1.8);
    }

    /// Exp(1) scores of a clean history, and the same history with 4 % of its points replaced
    /// by incident runs scoring 8–30.
    fn histories() -> (Vec<f64>, Vec<f64>) {
        let clean: Vec<f64> = uniform(20_000, 4).into_iter().map(|u| -u.ln()).collect();
        let mut dirty = clean.clone();
        let jumps = uniform(20_000, 5);
        for run in 0..8 {
            for i in 0..100 {
                dirty[1000 + run * 2400 + i] = 8.0 + 22.0 * jumps[run * 100 + i];
            }
        }
        (clean, dirty)
    }

    #[test]
    fn trimmed_thresholds_agree_with_and_without_incidents_where_pot_does_not() {
        let (clean, dirty) = histories();
        let truth = 1e3f64.ln(); // Exp(1) at risk 1e-3
        let fit = |m, x: &[f64]| Threshold::fit(m, x).unwrap().value;
        let (tc, td) = (
            fit(ThresholdMethod::TRIMMED, &clean),
            fit(ThresholdMethod::TRIMMED, &dirty),
        );
        assert!((tc - truth).abs() / truth < 0.15, "clean {tc} vs {truth}");
        // The stated bound: within 15 % of each other.
        assert!((td - tc).abs() / tc < 0.15, "with incidents {td} vs clean {tc}");
        // Plain POT puts the threshold among the incidents.
        let (pc, pd) = (
            fit(ThresholdMethod::POT, &clean),
            fit(ThresholdMethod::POT, &dirty),
        );
        assert!((pc - truth).abs() / truth < 0.15, "pot clean {pc}");
        assert!(pd > 2.0 * pc, "pot with incidents {pd} vs clean {pc}");
    }
}
