//! The PCA reconstruction reference detector: rows `x` ([variates], already standardised with the
//! training statistics) are projected on the principal subspace of the training rows and scored
//! by what the subspace cannot explain, the reconstruction residual
//!
//! ```text
//! r = (x − μ) − V_k V_kᵀ (x − μ)        V_k: [variates, k], the top-k eigenvectors of the
//!                                       training covariance, k = the fewest components whose
//!                                       explained variance exceeds `variance` (e.g. 0.9)
//! ```
//!
//! ([`Pca::residual`]); its squared norm is the classical PCA reconstruction error
//! ([`Pca::error`]). In `statecast eval anomaly --pca` the residual replaces the row, and the raw-value
//! baseline's machinery turns it into scores: per-variate z of the residual against the training
//! rows, aggregated over variates (`--aggregate rms` ≈ the standardised reconstruction error),
//! calibrated and thresholded on the validation rows like every other detector.
//!
//! **How this differs from TSB-AD's `PCA`** (its multivariate leaderboard row): TSB-AD (after
//! PyOD) fits on the scored series itself, on flattened windows of 100 rows, keeps
//! `n_components = 0.25` of the variance, and scores a window by the sum over components of the
//! Euclidean distance between the window and the component vector, divided by its explained
//! variance ratio. We follow the textbook reconstruction error instead, fitted on training rows
//! only (no test data), one row at a time.
//!
//! The eigen-decomposition is a cyclic Jacobi solver ([`symmetric_eigen`]): the covariance is a
//! small dense symmetric matrix (tens of variates), and the workspace has no linear-algebra crate.
use crate::{Error, Result};

/// PCA settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PcaConfig {
    /// Fraction of the training variance the kept components must exceed, in (0, 1).
    pub variance: f64,
}

/// A fitted PCA subspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Training mean, [variates].
    pub mean: Vec<f64>,
    /// Eigenvalues of the training covariance, descending, [variates].
    pub eigenvalues: Vec<f64>,
    /// Kept components (unit eigenvectors, descending eigenvalue), [k][variates].
    pub components: Vec<Vec<f64>>,
}

impl PcaConfig {
    /// Fit on training rows (each [variates]; rows with a non-finite value are skipped).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`pca`) when `variance` is outside (0, 1), a row has the wrong
    /// length, or fewer than two finite rows remain.
    pub fn fit<'a>(&self, rows: impl IntoIterator<Item = &'a [f32]>, n_variates: usize) -> Result<Pca> {
        if !(self.variance > 0.0 && self.variance < 1.0) {
            return Err(Error::invalid(
                "pca",
                format!("the variance fraction must lie in (0, 1), got {}", self.variance),
            ));
        }
        let d = n_variates;
        let (mut sum, mut cross, mut count) = (vec![0f64; d], vec![0f64; d * d], 0usize);
        let mut kept_rows: Vec<Vec<f64>> = Vec::new();
        for r in rows {
            if r.len() != d {
                return Err(Error::invalid(
                    "pca",
                    format!("a row has {} values, expected {d}", r.len()),
                ));
            }
            if r.iter().all(|x| x.is_finite()) {
                let x: Vec<f64> = r.iter().map(|&v| f64::from(v)).collect();
                for (s, v) in sum.iter_mut().zip(&x) {
                    *s += v;
                }
                count += 1;
                kept_rows.push(x);
            }
        }
        if count < 2 {
            return Err(Error::invalid(
                "pca",
                format!("{count} finite training rows; at least 2 are needed"),
            ));
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / count as f64).collect();
        for x in &kept_rows {
            for i in 0..d {
                let xi = x[i] - mean[i];
                for j in i..d {
                    cross[i * d + j] += xi * (x[j] - mean[j]);
                }
            }
        }
        let mut cov = vec![0f64; d * d];
        for i in 0..d {
            for j in i..d {
                let c = cross[i * d + j] / (count - 1) as f64;
                cov[i * d + j] = c;
                cov[j * d + i] = c;
            }
        }
        let (eigenvalues, vectors) = symmetric_eigen(&cov, d);
        let total: f64 = eigenvalues.iter().map(|l| l.max(0.0)).sum();
        // The fewest components whose cumulative share exceeds `variance` (scikit-learn's rule).
        let mut k = d;
        let mut acc = 0.0;
        for (i, l) in eigenvalues.iter().enumerate() {
            acc += l.max(0.0);
            if total > 0.0 && acc / total > self.variance {
                k = i + 1;
                break;
            }
        }
        Ok(Pca {
            mean,
            eigenvalues,
            components: vectors.into_iter().take(k).collect(),
        })
    }
}

impl Pca {
    /// Components kept.
    pub fn kept(&self) -> usize {
        self.components.len()
    }

    /// Fraction of the training variance the kept components explain.
    pub fn explained(&self) -> f64 {
        let total: f64 = self.eigenvalues.iter().map(|l| l.max(0.0)).sum();
        let kept: f64 = self.eigenvalues[..self.kept()].iter().map(|l| l.max(0.0)).sum();
        if total > 0.0 { kept / total } else { 1.0 }
    }

    /// The reconstruction residual of `x` ([variates]): `(x − μ) − V_k V_kᵀ (x − μ)`.
    pub fn residual(&self, x: &[f32]) -> Vec<f32> {
        debug_assert_eq!(x.len(), self.mean.len());
        let centred: Vec<f64> = x.iter().zip(&self.mean).map(|(&v, m)| f64::from(v) - m).collect();
        let mut r = centred.clone();
        for c in &self.components {
            let coef: f64 = c.iter().zip(&centred).map(|(a, b)| a * b).sum();
            for (ri, ci) in r.iter_mut().zip(c) {
                *ri -= coef * ci;
            }
        }
        r.iter().map(|&v| v as f32).collect()
    }

    /// The reconstruction error of `x`: the squared norm of [`Self::residual`].
    pub fn error(&self, x: &[f32]) -> f64 {
        self.residual(x)
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum()
    }
}

/// Eigenvalues (descending) and unit eigenvectors (one per value, [d][d]) of the symmetric matrix
/// `a` ([d, d] row-major), by cyclic Jacobi rotations: each rotation zeroes one off-diagonal pair,
/// sweeps repeat until the off-diagonal mass is negligible against the diagonal.
///
/// # Panics
/// When `a` is not `d × d` (programmer error).
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    assert_eq!(a.len(), d * d, "the matrix must be d × d");
    let mut a = a.to_vec();
    let mut v = vec![0f64; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|p| (p + 1..d).map(move |q| (p, q)))
            .map(|(p, q)| a[p * d + q] * a[p * d + q])
            .sum();
        let diag: f64 = (0..d).map(|i| a[i * d + i] * a[i * d + i]).sum();
        if off <= 1e-30 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J with J the identity but J_pp = J_qq = c, J_pq = s, J_qp = −s.
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| a[j * d + j].total_cmp(&a[i * d + i]));
    let values = order.iter().map(|&i| a[i * d + i]).collect();
    let vectors = order
        .iter()
        .map(|&i| (0..d).map(|k| v[k * d + i]).collect())
        .collect();
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() < tol, "{a} != {b}");
    }

    /// xorshift64*, standard normal by Box–Muller.
    struct Rng(u64);

    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
        }
    }

    #[test]
    fn eigen_of_known_matrices() {
        // [[2, 1], [1, 2]]: 3 along (1, 1)/√2, 1 along (1, −1)/√2.
        let (l, v) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        close(l[0], 3.0, 1e-12);
        close(l[1], 1.0, 1e-12);
        close(v[0][0].abs(), 0.5f64.sqrt(), 1e-12);
        close(v[0][0] * v[0][1], 0.5, 1e-12);
        close(v[1][0] * v[1][1], -0.5, 1e-12);
        // The path graph's Laplacian-like matrix [[2, −1, 0], [−1, 2, −1], [0, −1, 2]]:
        // eigenvalues 2 + √2, 2, 2 − √2.
        let (l, _) = symmetric_eigen(&[2.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0], 3);
        let r2 = 2f64.sqrt();
        for (got, want) in l.iter().zip([2.0 + r2, 2.0, 2.0 - r2]) {
            close(*got, want, 1e-12);
        }
        // Diagonal: already solved, sorted descending.
        let (l, v) = symmetric_eigen(&[1.0, 0.0, 0.0, 5.0], 2);
        assert_eq!(l, vec![5.0, 1.0]);
        assert_eq!(v, vec![vec![0.0, 1.0], vec![1.0, 0.0]]);
    }

    #[test]
    fn eigen_of_a_random_symmetric_matrix() {
        let d = 9;
        let mut rng = Rng(3);
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in i..d {
                let x = rng.normal();
                a[i * d + j] = x;
                a[j * d + i] = x;
            }
        }
        let (l, v) = symmetric_eigen(&a, d);
        let trace: f64 = (0..d).map(|i| a[i * d + i]).sum();
        close(l.iter().sum::<f64>(), trace, 1e-10);
        for (li, vi) in l.iter().zip(&v) {
            // A v = λ v
            for r in 0..d {
                let av: f64 = (0..d).map(|c| a[r * d + c] * vi[c]).sum();
                close(av, li * vi[r], 1e-10);
            }
        }
        for i in 0..d {
            for j in 0..d {
                let dot: f64 = v[i].iter().zip(&v[j]).map(|(x, y)| x * y).sum();
                close(dot, f64::from(u8::from(i == j)), 1e-10);
            }
        }
        assert!(l.windows(2).all(|w| w[0] >= w[1]));
    }

    /// Rows `x = B z + noise` in 6 variates with a planted 2-dimensional subspace `B`.
    fn planted(rng: &mut Rng, n: usize) -> (Vec<Vec<f32>>, [[f64; 6]; 2]) {
        let b = [[1.0, 0.5, -0.5, 0.0, 0.3, 0.2], [0.0, 1.0, 0.4, -0.6, 0.0, 0.5]];
        let rows = (0..n)
            .map(|_| {
                let (z0, z1) = (3.0 * rng.normal(), 2.0 * rng.normal());
                (0..6)
                    .map(|v| (1.0 + z0 * b[0][v] + z1 * b[1][v] + 0.05 * rng.normal()) as f32)
                    .collect()
            })
            .collect();
        (rows, b)
    }

    #[test]
    fn recovers_a_planted_subspace() {
        let mut rng = Rng(11);
        let (rows, b) = planted(&mut rng, 4000);
        let pca = PcaConfig { variance: 0.9 }
            .fit(rows.iter().map(Vec::as_slice), 6)
            .unwrap();
        assert_eq!(pca.kept(), 2, "eigenvalues {:?}", pca.eigenvalues);
        assert!(pca.explained() > 0.99, "{}", pca.explained());
        for m in &pca.mean {
            close(*m, 1.0, 0.2);
        }
        // Each planted direction lies in the kept span: its residual is tiny.
        for dir in b {
            let x: Vec<f32> = (0..6).map(|v| (pca.mean[v] + 4.0 * dir[v]) as f32).collect();
            let norm2: f64 = dir.iter().map(|d| 16.0 * d * d).sum();
            assert!(pca.error(&x) < 1e-3 * norm2, "{}", pca.error(&x));
        }
        // A row off the subspace scores far higher than training rows do.
        let typical: f64 = rows.iter().map(|r| pca.error(r)).sum::<f64>() / rows.len() as f64;
        let mut off = rows[0].clone();
        // Variate 2 moved by 2: e₂ is not in the span of B (B's first row is the only one with a
        // first coordinate, and B's second row has one at variate 1).
        off[2] += 2.0;
        assert!(
            pca.error(&off) > 50.0 * typical,
            "{} vs {typical}",
            pca.error(&off)
        );
        // The residual of a training row is orthogonal to every kept component.
        let r = pca.residual(&rows[1]);
        for c in &pca.components {
            close(c.iter().zip(&r).map(|(a, x)| a * f64::from(*x)).sum(), 0.0, 1e-5);
        }
    }

    #[test]
    fn invalid_settings_are_refused_by_name() {
        let rows = [vec![1.0f32, 2.0], vec![2.0, 3.0]];
        for variance in [0.0, 1.0, 1.5, f64::NAN] {
            let err = PcaConfig { variance }
                .fit(rows.iter().map(Vec::as_slice), 2)
                .unwrap_err();
            assert!(
                matches!(&err, Error::InvalidArgument { field, .. } if field == "pca"),
                "{err}"
            );
        }
        let err = PcaConfig { variance: 0.9 }
            .fit(rows[..1].iter().map(Vec::as_slice), 2)
            .unwrap_err();
        assert!(err.to_string().contains("1 finite training rows"), "{err}");
        let err = PcaConfig { variance: 0.9 }
            .fit(rows.iter().map(Vec::as_slice), 3)
            .unwrap_err();
        assert!(err.to_string().contains("expected 3"), "{err}");
    }
}
