//! Causal convolution paths (`docs/spacetime.md` §1.2) and the typed choice between them.
//!
//! ```text
//! Fft:       u (C, L, N) ─rfft_n along time─> · k̂ ─irfft_n─> first L          O(N·C·n log n), n = next_pow2(2L)
//! Toeplitz:  k (C, L) ─repeat/reshape─> T_c[t, s] = k_{c, t−s} (t ≥ s, else 0), (C, L, L)
//!            y = T · u  as one batched matmul over channels (C, L, L)×(C, L, N)   O(N·C·L²), dense GEMM
//! ```
//!
//! Both compute `y_{t,c} = Σ_{j ≤ t} k_{c,j} u_{t−j,c}` exactly (up to float round-off) and are
//! differentiable with ordinary tensor ops. The Toeplitz path does ~L/log L times more
//! arithmetic, but as one dense batched GEMM it is much faster than the FFT for the short
//! look-backs of forecasting (L ≤ a few hundred), on the CPU (`flex`) as well as on GPUs.
//! [`ConvPath::Auto`] therefore picks Toeplitz up to [`TOEPLITZ_MAX_LEN`] and the FFT above.
//! Measured on flex (2 cores, N=224, L=96, C=128): FFT 86 ms forward / 335 ms forward+backward,
//! Toeplitz 17 / 40 ms.
//!
//! The channel-major layout `[C, L, N]` is the natural one for both: the Toeplitz matmul batches
//! over channels and writes a dense result, and the FFT runs along the middle axis in place. The
//! `[N, L, C]` entry points permute (a view on strided backends) around the `_cln` ones.
//!
//! Shape letters: `n` series, `l`/`t`/`s` time, `c` channels, `q` stacked kernels.
use burn::prelude::*;
use burn::signal::{irfft, rfft};

use super::fftconv::fft_len;
use super::precise::precise_matmul;

/// Longest sequence for which [`ConvPath::Auto`] uses the Toeplitz path.
///
/// At `L = 512` the Toeplitz matrices of a 128-channel layer take `128·512²·4 B = 128 MiB` (kept
/// for the backward pass), which bounds the memory cost; beyond it the FFT's `O(L log L)` wins
/// anyway on every backend we measured.
pub const TOEPLITZ_MAX_LEN: usize = 512;

/// How causal convolutions with length-`L` kernels are computed.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ConvPath {
    /// Zero-padded `rfft`/`irfft` product (reference path, `O(L log L)` per channel and series).
    Fft,
    /// Lower-triangular Toeplitz matrix per channel and a batched matmul (`O(L²)`, dense GEMM).
    Toeplitz,
    /// [`ConvPath::Toeplitz`] for `L ≤` [`TOEPLITZ_MAX_LEN`], [`ConvPath::Fft`] above (default).
    Auto,
}

impl ConvPath {
    /// The concrete path ([`ConvPath::Fft`] or [`ConvPath::Toeplitz`]) used for length `len`.
    pub fn resolve(self, len: usize) -> Self {
        match self {
            Self::Auto if len <= TOEPLITZ_MAX_LEN => Self::Toeplitz,
            Self::Auto => Self::Fft,
            Self::Fft | Self::Toeplitz => self,
        }
    }
}

/// Causal convolution per channel, `y_{t,c} = Σ_{j ≤ t} k_{c,j} u_{t−j,c}`, by `path`.
///
/// Kernels longer than `L` are truncated, shorter ones zero-padded (as [`super::fft_causal_conv`]).
/// Works in the channel-major layout internally ([`causal_conv_cln`]); the two permutes here are
/// views on backends with strided tensors.
///
/// # Shapes
/// * `u_nlc`: `[N, L, C]`, `k_cl`: `[C, ℓ]` (any `ℓ ≥ 1`); returns `[N, L, C]`
pub fn causal_conv(u_nlc: Tensor<3>, k_cl: Tensor<2>, path: ConvPath) -> Tensor<3> {
    causal_conv_cln(u_nlc.permute([2, 1, 0]), k_cl, path).permute([2, 1, 0])
}

/// [`causal_conv`] in the channel-major layout `[C, L, N]` used inside SpaceTime: the convolution
/// runs along the middle axis, the channel axis is the matmul batch, so no transposes are needed.
///
/// # Shapes
/// * `u_cln`: `[C, L, N]`, `k_cl`: `[C, ℓ]` (any `ℓ ≥ 1`); returns `[C, L, N]`
pub fn causal_conv_cln(u_cln: Tensor<3>, k_cl: Tensor<2>, path: ConvPath) -> Tensor<3> {
    let mut out = causal_conv_many_cln(u_cln, vec![k_cl], path);
    out.pop().expect("one kernel bank in, one output out")
}

/// Several causal convolutions of the *same* input (one per kernel bank), sharing the work that
/// depends on the input only (one `rfft` of `u` on the FFT path).
///
/// # Shapes
/// * `u_cln`: `[C, L, N]`, each bank `[C, ℓ_i]`; returns one `[C, L, N]` per bank
///
/// # Panics
/// If `banks` is empty or a bank's channel count differs from `C`.
pub fn causal_conv_many_cln(u_cln: Tensor<3>, banks: Vec<Tensor<2>>, path: ConvPath) -> Vec<Tensor<3>> {
    assert!(!banks.is_empty(), "causal_conv: no kernels");
    let [c, l, _] = u_cln.dims();
    let banks: Vec<Tensor<2>> = banks
        .into_iter()
        .map(|k| {
            let kc = k.dims()[0];
            assert_eq!(c, kc, "causal_conv: {c} input channels but {kc} kernels");
            fit_len(k, l)
        })
        .collect();
    match path.resolve(l) {
        ConvPath::Toeplitz => toeplitz_conv_many_cln(u_cln, banks),
        ConvPath::Fft | ConvPath::Auto => fft_conv_many_cln(u_cln, banks),
    }
}

/// Truncates or zero-pads the kernel taps to exactly `len`.
///
/// # Shapes
/// * `k_cl`: `[C, ℓ]`, returns `[C, len]`
fn fit_len(k_cl: Tensor<2>, len: usize) -> Tensor<2> {
    let [c, kl] = k_cl.dims();
    if kl >= len {
        k_cl.narrow(1, 0, len)
    } else {
        let zeros = Tensor::zeros([c, len - kl], &k_cl.device());
        Tensor::cat(vec![k_cl, zeros], 1)
    }
}

/// Lower-triangular Toeplitz matrices `T_c[t, s] = k_{c, t−s}` (`t ≥ s`, else 0).
///
/// Two constructions with the same values: [`toeplitz_matrix_gather`] on burn's CPU backend
/// `flex`, [`toeplitz_matrix_dense`] on every other device. They differ in their backward
/// pass: the gather's is a scatter-add onto the taps, cheap on `flex` but on CUDA a
/// `select_assign` kernel that took 79 % of a SpaceTime training step at L=336 (3 launches,
/// 113 of 143 ms, BENCHMARKS.md §5); the dense construction's is a sum of copies. On `flex` the
/// dense construction is the slower one (about 3× on the whole forward pass at L=336, as it
/// moves twice the elements), hence the choice by device.
///
/// # Shapes
/// * `k_cl`: `[C, L]`, returns `[C, L, L]`
pub fn toeplitz_matrix(k_cl: Tensor<2>) -> Tensor<3> {
    if k_cl.device().inner() == Device::flex() {
        toeplitz_matrix_gather(k_cl)
    } else {
        toeplitz_matrix_dense(k_cl)
    }
}

/// [`toeplitz_matrix`] by one gather from the kernel padded with a leading zero.
///
/// # Shapes
/// * `k_cl`: `[C, L]`, returns `[C, L, L]`
pub fn toeplitz_matrix_gather(k_cl: Tensor<2>) -> Tensor<3> {
    let [c, l] = k_cl.dims();
    let device = k_cl.device();
    let idx: Vec<i64> = (0..l * l)
        .map(|e| {
            let (t, s) = (e / l, e % l);
            if t >= s { (t - s + 1) as i64 } else { 0 }
        })
        .collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [l * l]), &device);
    Tensor::cat(vec![Tensor::zeros([c, 1], &device), k_cl], 1)
        .select(1, idx)
        .reshape([c, l, l])
}

/// [`toeplitz_matrix`] from dense copies only (no gather), so the backward pass is dense too.
///
/// Row `t` of `T` is a window of one fixed vector read backwards from position `t`. With
/// `r = [k_0, 0 × (L−1), k_{L−1}, k_{L−2}, …, k_1]` (length `2L−1`), `T[t, s] = r[(s − t) mod
/// (2L−1)]`; repeating `r` `L` times and reading the result as rows of length `2L−2` shifts each
/// row by one place, which is exactly that modular index, so `T` is the first `L` columns of
/// that view. The backward pass sums the repeated copies instead of scattering.
///
/// # Shapes
/// * `k_cl`: `[C, L]`, returns `[C, L, L]`
pub fn toeplitz_matrix_dense(k_cl: Tensor<2>) -> Tensor<3> {
    let [c, l] = k_cl.dims();
    if l == 1 {
        return k_cl.reshape([c, 1, 1]);
    }
    let device = k_cl.device();
    let r_cm = Tensor::cat(
        vec![
            k_cl.clone().narrow(1, 0, 1),
            Tensor::zeros([c, l - 1], &device),
            k_cl.narrow(1, 1, l - 1).flip([1]),
        ],
        1,
    );
    r_cm.repeat_dim(1, l)
        .narrow(1, 0, l * (2 * l - 2))
        .reshape([c, l, 2 * l - 2])
        .narrow(2, 0, l)
        // A dense copy, so the batched matmul reads a contiguous matrix.
        .reshape([c, l * l])
        .reshape([c, l, l])
}

/// Causal convolution by Toeplitz matmul, `[N, L, C]` layout ([`causal_conv`] with
/// [`ConvPath::Toeplitz`]).
///
/// # Shapes
/// * `u_nlc`: `[N, L, C]`, `k_cl`: `[C, ℓ]`; returns `[N, L, C]`
pub fn toeplitz_causal_conv(u_nlc: Tensor<3>, k_cl: Tensor<2>) -> Tensor<3> {
    causal_conv(u_nlc, k_cl, ConvPath::Toeplitz)
}

/// Toeplitz path of [`causal_conv_many_cln`]; every bank is `[C, L]` already.
///
/// One matmul per bank: each output is then a dense `[C, L, N]` tensor (stacking the banks' rows
/// into one `[C, q·L, L]` matmul reads the input once but leaves strided halves, which the
/// element-wise consumers on `flex` then walk slowly).
fn toeplitz_conv_many_cln(u_cln: Tensor<3>, banks: Vec<Tensor<2>>) -> Vec<Tensor<3>> {
    banks
        .into_iter()
        .map(|k_cl| precise_matmul(toeplitz_matrix(k_cl), u_cln.clone()))
        .collect()
}

/// FFT path of [`causal_conv_many_cln`]: transforms along the time axis where it is (no
/// transposes), one input spectrum for all banks.
fn fft_conv_many_cln(u_cln: Tensor<3>, banks: Vec<Tensor<2>>) -> Vec<Tensor<3>> {
    let [c, l, _] = u_cln.dims();
    let n = fft_len(l);
    let (u_re, u_im) = rfft(u_cln, 1, Some(n));
    banks
        .into_iter()
        .map(|k_cl| {
            let (k_re, k_im) = rfft(k_cl, 1, Some(n));
            let f = k_re.dims()[1];
            // [C, F] → [C, F, 1] to broadcast against [C, F, N].
            let (k_re, k_im) = (k_re.reshape([c, f, 1]), k_im.reshape([c, f, 1]));
            let y_re = u_re.clone() * k_re.clone() - u_im.clone() * k_im.clone();
            let y_im = u_re.clone() * k_im + u_im.clone() * k_re;
            irfft(y_re, y_im, 1, Some(n)).narrow(1, 0, l)
        })
        .collect()
}
