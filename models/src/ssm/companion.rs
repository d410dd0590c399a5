//! Companion-matrix SSM kernels (`docs/spacetime.md` §2.2, §2.3, §2.5b).
//!
//! ```text
//!  a ──L1 projection (‖a‖₁ ≤ ρ)──> A = S + a e_dᵀ ──repeated squaring──> X = [b, Ab, …, A^{ℓ-1}b]
//!                                                                         │
//!                                                          k_j = cᵀ A^j b = (cᵀ X)_j
//! ```
//!
//! Shape letters: `n` kernels (or channels), `d` state size, `l` kernel length ℓ, `m` start columns.
//!
//! The companion matrix is `A = S + a e_dᵀ`: ones on the sub-diagonal (`S_{i+1,i} = 1`) and the
//! learnable last column `a`. Its characteristic polynomial is `z^d − Σ_i a_i z^i`, so for
//! `‖a‖₁ ≤ ρ < 1` every eigenvalue satisfies `|z| < 1` (for `|z| ≥ 1`,
//! `|Σ a_i z^i| ≤ ρ |z|^{d−1} < |z|^d`). We therefore project `a` onto the L1 ball of radius
//! `ρ = 0.999` (`docs/spacetime.md` §2.2) instead of the reference's exact division by `‖a‖₁`,
//! which leaves eigenvalues on the unit circle possible (e.g. `a = e₁`, the cyclic shift).
use burn::prelude::*;

use super::precise::precise_matmul;

/// Default stability radius ρ of the L1 projection of the companion column `a` (`docs/spacetime.md` §2.2).
pub const DEFAULT_RHO: f64 = 0.999;

/// The sub-diagonal shift matrix `S` (`S_{i+1,i} = 1`, zeros elsewhere).
///
/// # Shapes
/// * returns `[d, d]`
pub fn shift_matrix(d: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0f32; d * d];
    for i in 0..d.saturating_sub(1) {
        values[(i + 1) * d + i] = 1.0;
    }
    Tensor::from_data(TensorData::new(values, [d, d]), device)
}

/// Batched companion matrices `A = S + a e_dᵀ` (last column `a`, `docs/spacetime.md` §2.2).
///
/// # Shapes
/// * `a_nd`: `[n, d]`
/// * returns `[n, d, d]`
pub fn companion_matrix(a_nd: Tensor<2>) -> Tensor<3> {
    let [n, d] = a_nd.dims();
    let device = a_nd.device();
    let s_1dd = shift_matrix(d, &device).unsqueeze::<3>();
    let mut e_d = vec![0.0f32; d];
    e_d[d - 1] = 1.0;
    let e_11d = Tensor::<1>::from_data(TensorData::new(e_d, [d]), &device).reshape([1, 1, d]);
    let last_col_ndd = a_nd.reshape([n, d, 1]) * e_11d;
    s_1dd + last_col_ndd
}

/// Projection onto the L1 ball of radius `radius`, row by row: `x · radius / max(‖x‖₁, radius)`.
///
/// Rows already inside the ball are unchanged; rows outside are rescaled onto its surface (the
/// reference divides by `‖x‖₁` unconditionally and skips normalisation when the mean norm is below
/// 1e-4, `docs/spacetime.md` §2.13; with the `N(0,1)` init both agree up to the factor ρ).
///
/// # Shapes
/// * `x_nd`: `[n, d]`, returns `[n, d]`
pub fn l1_project(x_nd: Tensor<2>, radius: f64) -> Tensor<2> {
    let norm_n1 = x_nd.clone().abs().sum_dim(1);
    let scale_n1 = norm_n1.clamp_min(radius).recip().mul_scalar(radius);
    x_nd * scale_n1
}

/// Krylov blocks `[X₀, M X₀, M² X₀, …, M^{len−1} X₀]` by repeated squaring (`docs/spacetime.md` §2.5b).
///
/// Keeps `X = [X₀, …, M^{m−1}X₀]` and `M^m`, doubles with `X ← [X, M^m X]`, `M^{2m} = (M^m)²`,
/// truncating the last block: `O(log len)` batched matmuls.
///
/// # Shapes
/// * `m_ndd`: `[n, d, d]`, `x0_ndm`: `[n, d, m]`
/// * returns `[n, d, len·m]`; columns `j·m .. (j+1)·m` hold `M^j X₀`
///
/// Products go through [`precise_matmul`]: `M^j` amplifies operand rounding about `j`-fold, so
/// TF32 tensor-core products would ruin long kernels of near-unit-radius matrices.
///
/// # Panics
/// If `len == 0` or the batch/state sizes disagree.
pub fn krylov(m_ndd: Tensor<3>, x0_ndm: Tensor<3>, len: usize) -> Tensor<3> {
    krylov_with(m_ndd, x0_ndm, len, precise_matmul)
}

/// [`krylov`] with the batched product `mm` supplied (tests emulate TF32 tensor cores with it).
///
/// # Panics
/// If `len == 0` or the batch/state sizes disagree.
pub fn krylov_with(
    m_ndd: Tensor<3>,
    x0_ndm: Tensor<3>,
    len: usize,
    mm: impl Fn(Tensor<3>, Tensor<3>) -> Tensor<3>,
) -> Tensor<3> {
    assert!(len >= 1, "krylov: len must be >= 1");
    let [n, d, m] = x0_ndm.dims();
    assert_eq!(
        [n, d, d],
        m_ndd.dims(),
        "krylov: matrix and start vectors disagree"
    );
    let mut x_ndt = x0_ndm;
    let mut blocks = 1;
    let mut power_ndd = m_ndd; // M^blocks
    while blocks < len {
        let take = (len - blocks).min(blocks);
        let new_ndt = mm(power_ndd.clone(), x_ndt.clone().narrow(2, 0, take * m));
        x_ndt = Tensor::cat(vec![x_ndt, new_ndt], 2);
        blocks += take;
        if blocks < len {
            power_ndd = mm(power_ndd.clone(), power_ndd);
        }
    }
    debug_assert_eq!([n, d, len * m], x_ndt.dims());
    x_ndt
}

/// Companion SSM kernels `k_j = cᵀ A^j b`, `j < len`, with `A = S + a e_dᵀ` (`docs/spacetime.md` §2.2, §2.5b).
///
/// `a` is used as given: apply [`l1_project`] first for the stable parameterisation.
///
/// # Shapes
/// * `a_nd`, `b_nd`, `c_nd`: `[n, d]`
/// * returns `[n, len]`
pub fn companion_kernel(a_nd: Tensor<2>, b_nd: Tensor<2>, c_nd: Tensor<2>, len: usize) -> Tensor<2> {
    let [n, d] = a_nd.dims();
    let x_ndl = krylov(companion_matrix(a_nd), b_nd.reshape([n, d, 1]), len);
    precise_matmul(c_nd.reshape([n, 1, d]), x_ndl).reshape([n, len])
}

/// Shift SSM kernels (`a = 0`, `b = e₁`): `k_j = c_{j+1}` for `j < d`, zero afterwards (`docs/spacetime.md` §2.3).
///
/// # Shapes
/// * `c_nd`: `[n, d]`, returns `[n, len]`
pub fn shift_kernel(c_nd: Tensor<2>, len: usize) -> Tensor<2> {
    let [n, d] = c_nd.dims();
    if len <= d {
        c_nd.narrow(1, 0, len)
    } else {
        let zeros = Tensor::zeros([n, len - d], &c_nd.device());
        Tensor::cat(vec![c_nd, zeros], 1)
    }
}

/// Kernel index of every channel for the sharing layout `(kernel_repeat, n_kernels, n_heads)`
/// (`docs/spacetime.md` §2.2, head_dim = 1): channel `c` uses kernel `⌊c / n_heads⌋ mod n_kernels`.
///
/// # Shapes
/// * returns `[width]` (integer indices into a `[n_kernels, …]` bank, for `Tensor::select`)
///
/// # Panics
/// If `width` is not a multiple of `n_kernels · n_heads`.
pub fn channel_kernel_index(
    width: usize,
    n_kernels: usize,
    n_heads: usize,
    device: &Device,
) -> Tensor<1, Int> {
    assert!(
        n_kernels >= 1 && n_heads >= 1 && width.is_multiple_of(n_kernels * n_heads),
        "width {width} must be a multiple of n_kernels {n_kernels} x n_heads {n_heads}"
    );
    let idx: Vec<i64> = (0..width).map(|c| ((c / n_heads) % n_kernels) as i64).collect();
    Tensor::from_data(TensorData::new(idx, [width]), device)
}
