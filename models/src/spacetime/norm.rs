//! Per-window normalisation over the look-back (`docs/spacetime.md` §2.10).
//!
//! ```text
//! mean:        u = x − x̄_lag                 output + x̄_lag
//! last:        u = x − x_{L−1}               output + x_{L−1}
//! standardize: u = (x − x̄) / σ              output · σ + x̄,   σ = sqrt(var + 1e-5)
//! none:        u = x
//! ```
//!
//! Statistics come from the look-back only, so they are not causal inside the window: the streaming
//! path ([`super::step`]) takes them as given (computed from a look-back, or supplied by the caller)
//! and keeps them fixed while points arrive.
//!
//! Shape letters: `n` series, `t` time.
use burn::prelude::*;

/// Variance floor of `standardize`: `σ = sqrt(var + STD_EPS)`.
pub const STD_EPS: f64 = 1e-5;

/// Per-window affine transform of the look-back (no learnable affine, i.e. not RevIN).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// Identity (data already scaled).
    None,
    /// Subtract the look-back mean (reference default).
    Mean,
    /// Subtract the last look-back value.
    Last,
    /// Subtract the mean and divide by the standard deviation.
    Standardize,
}

/// Per-series statistics `u = (x − shift) / scale`.
#[derive(Debug, Clone)]
pub struct NormStats {
    /// Shift, `[N, 1]`.
    pub shift_n1: Tensor<2>,
    /// Scale, `[N, 1]`.
    pub scale_n1: Tensor<2>,
}

impl NormStats {
    /// Statistics of each series' look-back.
    ///
    /// # Shapes
    /// * `x_nl`: `[N, L]`; fields `[N, 1]`
    pub fn from_lookback(x_nl: Tensor<2>, mode: Normalization) -> Self {
        let [n, l] = x_nl.dims();
        let device = x_nl.device();
        let ones = || Tensor::ones([n, 1], &device);
        match mode {
            Normalization::None => Self {
                shift_n1: Tensor::zeros([n, 1], &device),
                scale_n1: ones(),
            },
            Normalization::Mean => Self {
                shift_n1: x_nl.mean_dim(1),
                scale_n1: ones(),
            },
            Normalization::Last => Self {
                shift_n1: x_nl.narrow(1, l - 1, 1),
                scale_n1: ones(),
            },
            Normalization::Standardize => {
                let scale_n1 = x_nl.clone().var_bias(1).add_scalar(STD_EPS).sqrt();
                Self {
                    shift_n1: x_nl.mean_dim(1),
                    scale_n1,
                }
            }
        }
    }

    /// `u = (x − shift) / scale`.
    ///
    /// # Shapes
    /// * `x_nt`: `[N, T]`, returns `[N, T]`
    pub fn normalize(&self, x_nt: Tensor<2>) -> Tensor<2> {
        (x_nt - self.shift_n1.clone()) / self.scale_n1.clone()
    }

    /// `x = u · scale + shift`.
    ///
    /// # Shapes
    /// * `u_nt`: `[N, T]`, returns `[N, T]`
    pub fn denormalize(&self, u_nt: Tensor<2>) -> Tensor<2> {
        u_nt * self.scale_n1.clone() + self.shift_n1.clone()
    }
}
