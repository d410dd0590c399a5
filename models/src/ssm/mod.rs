//! Shared linear state-space math (`docs/spacetime.md` §1 and §2.2–§2.5).
//!
//! * [`companion`]: companion matrices, L1 stability projection, repeated-squaring Krylov kernels.
//! * [`fftconv`]: long causal convolution through power-of-two `rfft`/`irfft`.
//! * [`precise`]: full-f32 matmuls on TF32 tensor cores (split products) for the kernel powers.
//! * [`conv`]: the typed choice [`ConvPath`] between the FFT and a Toeplitz-matmul convolution.
//! * [`reference`](mod@reference): plain-loop `f64` oracles for the tests (naive kernels, direct sums, rollouts).

pub mod companion;
pub mod conv;
pub mod fftconv;
pub mod precise;
pub mod reference;

#[cfg(test)]
mod tests;

pub use companion::{
    DEFAULT_RHO, channel_kernel_index, companion_kernel, companion_matrix, krylov, krylov_with, l1_project,
    shift_kernel, shift_matrix,
};
pub use conv::{
    ConvPath, TOEPLITZ_MAX_LEN, causal_conv, causal_conv_cln, causal_conv_many_cln, toeplitz_causal_conv,
    toeplitz_matrix, toeplitz_matrix_dense, toeplitz_matrix_gather,
};
pub use fftconv::{fft_causal_conv, fft_len};
pub use precise::{MatmulPrecision, precise_matmul, split_matmul};
