//! Small statistics helpers shared by the generator and the anomaly injector.
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Scale from the median absolute deviation to the standard deviation of a normal law.
const MAD_TO_STD: f64 = 1.482_602_218_505_602;

/// One draw from N(0, 1).
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// A stationary Gaussian AR(1) path of length `n`: `x_t = rho x_{t-1} + std sqrt(1-rho^2) e_t`,
/// started from its stationary law, so `Var(x_t) = std^2` for every `t`.
pub(crate) fn ar1(rng: &mut ChaCha8Rng, n: usize, rho: f64, std: f64) -> Vec<f64> {
    let innovation = std * (1.0 - rho * rho).max(0.0).sqrt();
    let mut out = Vec::with_capacity(n);
    let mut x = std * normal(rng);
    for t in 0..n {
        if t > 0 {
            x = rho * x + innovation * normal(rng);
        }
        out.push(x);
    }
    out
}

/// Mean and (population) standard deviation of the finite values; `(0, 0)` when there are none.
pub(crate) fn mean_std(xs: &[f64]) -> (f64, f64) {
    let (mut n, mut sum) = (0usize, 0.0);
    for &x in xs.iter().filter(|x| x.is_finite()) {
        n += 1;
        sum += x;
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    let var = xs
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| (x - mean) * (x - mean))
        .sum::<f64>()
        / n as f64;
    (mean, var.sqrt())
}

/// Median of the finite values (`NaN` when there are none).
pub(crate) fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// Robust standard deviation: `1.4826 * MAD`. Falls back to the standard deviation when the MAD
/// is zero, and to 1 when that is zero too, so the result is always positive and finite.
pub(crate) fn robust_std(xs: &[f64]) -> f64 {
    let med = median(xs);
    let dev: Vec<f64> = xs
        .iter()
        .filter(|x| x.is_finite())
        .map(|x| (x - med).abs())
        .collect();
    let mad = MAD_TO_STD * median(&dev);
    if mad.is_finite() && mad > 0.0 {
        return mad;
    }
    match mean_std(xs).1 {
        s if s > 0.0 => s,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn ar1_has_the_requested_std_and_autocorrelation() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = ar1(&mut rng, 200_000, 0.8, 2.0);
        let (m, s) = mean_std(&x);
        assert!(m.abs() < 0.05, "{m}");
        assert!((s - 2.0).abs() < 0.05, "{s}");
        let r1 = x.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum::<f64>() / (x.len() - 1) as f64 / (s * s);
        assert!((r1 - 0.8).abs() < 0.01, "{r1}");
    }

    #[test]
    fn median_and_robust_std() {
        assert_eq!(median(&[3.0, 1.0, f64::NAN, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        // MAD of 1..=5 is 1.
        assert!((robust_std(&[1.0, 2.0, 3.0, 4.0, 5.0]) - MAD_TO_STD).abs() < 1e-12);
        // Mostly constant: MAD = 0, falls back to the std.
        assert!(robust_std(&[1.0, 1.0, 1.0, 1.0, 5.0]) > 0.0);
        assert_eq!(robust_std(&[2.0, 2.0]), 1.0);
    }
}
