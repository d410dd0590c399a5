//! Long causal convolution through the FFT (`docs/spacetime.md` §1.2).
//!
//! ```text
//! u (B, L, C) ─swap─> (B, C, L) ─rfft_n─┐
//!                                       ├─ complex product ─irfft_n─> (B, C, n) ─first L─> (B, L, C)
//! k (C, ℓ)                   ─rfft_n─┘
//! ```
//!
//! `n = next_pow2(2L)`: zero-padding both signals to `n ≥ 2L` turns the circular convolution into
//! the linear (causal) one, so no tail wraps into the head. burn's `rfft`/`irfft` need
//! power-of-two lengths and carry spectra as `(re, im)` pairs (no complex dtype).
//!
//! Shape letters: `b` batch, `l` time, `c` channels.
use burn::prelude::*;
use burn::signal::{irfft, rfft};

/// FFT length used for a length-`len` causal convolution: the next power of two `≥ 2·len`.
pub fn fft_len(len: usize) -> usize {
    (2 * len).next_power_of_two()
}

/// Causal convolution per channel, `y_{t,c} = Σ_{j ≤ t} k_{c,j} u_{t−j,c}`, via `rfft`/`irfft`.
///
/// Kernels longer than `L` are truncated (taps `j ≥ L` never reach an output); shorter ones are
/// zero-padded. Differentiable (burn-signal has FFT backward passes).
///
/// # Shapes
/// * `u_blc`: `[B, L, C]`
/// * `k_cl`: `[C, ℓ]` (any `ℓ ≥ 1`)
/// * returns `[B, L, C]`
pub fn fft_causal_conv(u_blc: Tensor<3>, k_cl: Tensor<2>) -> Tensor<3> {
    let [_, l, c] = u_blc.dims();
    let [kc, kl] = k_cl.dims();
    assert_eq!(c, kc, "fft_causal_conv: {c} input channels but {kc} kernels");
    let k_cl = if kl > l { k_cl.narrow(1, 0, l) } else { k_cl };
    let n = fft_len(l);
    let (u_re, u_im) = rfft(u_blc.swap_dims(1, 2), 2, Some(n));
    let (k_re, k_im) = rfft(k_cl, 1, Some(n));
    let (k_re, k_im) = (k_re.unsqueeze::<3>(), k_im.unsqueeze::<3>());
    let y_re = u_re.clone() * k_re.clone() - u_im.clone() * k_im.clone();
    let y_im = u_re * k_im + u_im * k_re;
    irfft(y_re, y_im, 2, Some(n)).narrow(2, 0, l).swap_dims(1, 2)
}
