//! Plain-loop `f64` oracles for the SSM math (`docs/spacetime.md` §2.5a, §2.7, §5). Slow on purpose:
//! the tensor paths in [`super::companion`] and [`super::fftconv`] are tested against these.
//!
//! Vectors are row-major slices; a companion SSM is given by its last column `a`, input vector
//! `b` and output vector `c` (all length `d`).

/// `A x` for the companion matrix `A = S + a e_dᵀ`: `(Ax)_0 = a_0 x_{d−1}`,
/// `(Ax)_i = x_{i−1} + a_i x_{d−1}`.
///
/// # Shapes
/// * `a`, `x`: `[d]`, returns `[d]`
pub fn companion_apply(a: &[f64], x: &[f64]) -> Vec<f64> {
    let d = a.len();
    let last = x[d - 1];
    (0..d)
        .map(|i| if i == 0 { 0.0 } else { x[i - 1] } + a[i] * last)
        .collect()
}

/// Naive companion kernel `k_j = cᵀ A^j b`, `j < len`, by iterating `x ← A x` (`O(len · d)` here
/// because `A x` is a shift plus a rank-1 update; the spec's `O(ℓd²)` for a dense `A`).
///
/// # Shapes
/// * `a`, `b`, `c`: `[d]`, returns `[len]`
pub fn naive_companion_kernel(a: &[f64], b: &[f64], c: &[f64], len: usize) -> Vec<f64> {
    let mut x = b.to_vec();
    let mut k = Vec::with_capacity(len);
    for _ in 0..len {
        k.push(dot(c, &x));
        x = companion_apply(a, &x);
    }
    k
}

/// Direct causal convolution `y_t = Σ_{j ≤ t} k_j u_{t−j}` (kernel taps beyond `k.len()` are zero).
///
/// # Shapes
/// * `u`: `[L]`, `k`: `[ℓ]`, returns `[L]`
pub fn direct_causal_conv(u: &[f64], k: &[f64]) -> Vec<f64> {
    (0..u.len())
        .map(|t| {
            (0..=t.min(k.len().saturating_sub(1)))
                .map(|j| k[j] * u[t - j])
                .sum()
        })
        .collect()
}

/// Closed-loop rollout of one channel by explicit recursion (`docs/spacetime.md` §2.7):
/// `x_{t+1} = A x_t + b z_t` over the look-back `z_{0..L−1}` from `x_0 = 0`, then for
/// `h = 0..H−1`: `ŷ_{L+h} = cᵀ x_{L+h}`, `ẑ_{L+h} = kᵀ x_{L+h}`, and `ẑ` is appended to the input
/// (`x ← A x + b ẑ`).
///
/// # Shapes
/// * `a`, `b`, `c`, `k`: `[d]`, `z`: `[L]`; returns `(ŷ [H], ẑ [H])`
pub fn closed_loop_rollout(
    a: &[f64],
    b: &[f64],
    c: &[f64],
    k: &[f64],
    z: &[f64],
    horizon: usize,
) -> (Vec<f64>, Vec<f64>) {
    let d = a.len();
    let mut x = vec![0.0; d];
    let push = |x: &[f64], u: f64| -> Vec<f64> {
        companion_apply(a, x)
            .iter()
            .zip(b)
            .map(|(ax, bi)| ax + bi * u)
            .collect()
    };
    for &u in z {
        x = push(&x, u);
    }
    let (mut y, mut zhat) = (Vec::with_capacity(horizon), Vec::with_capacity(horizon));
    for _ in 0..horizon {
        let z_next = dot(k, &x);
        y.push(dot(c, &x));
        zhat.push(z_next);
        x = push(&x, z_next);
    }
    (y, zhat)
}

/// AR(`p`) forecast by recursion: `ẑ_t = Σ_{i<p} φ_i z_{t−1−i}`, appending each prediction
/// (zero history before the series starts).
///
/// # Shapes
/// * `phi`: `[p]`, `z`: `[L]`, returns `[H]`
pub fn ar_forecast(phi: &[f64], z: &[f64], horizon: usize) -> Vec<f64> {
    let mut hist = z.to_vec();
    for _ in 0..horizon {
        let t = hist.len();
        let next = phi
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < t)
            .map(|(i, p)| p * hist[t - 1 - i])
            .sum();
        hist.push(next);
    }
    hist.split_off(z.len())
}

/// Dot product.
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}
