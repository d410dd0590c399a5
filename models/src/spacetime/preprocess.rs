//! Fixed preprocessing SSMs: differencing and moving-average residuals (`docs/spacetime.md` §2.4).
//!
//! ```text
//! channel c, type t = c mod (#orders + #MA):
//!   t <  #orders : k = coefficients of (1 − z)^q      ([1], [1,−1], [1,−2,1], [1,−3,3,−1])
//!   t >= #orders : k_0 = 1 − 1/m, k_j = −1/m (1 ≤ j < m)  ⇒ y_t = u_t − mean(u_{t−m+1..t})
//! u (C, L, N) ──causal conv with k (FFT or Toeplitz, `ConvPath`)──> y (C, L, N)
//! ```
//!
//! **Frozen, not parameters.** The kernels are a plain tensor field (a burn constant: never visited
//! by optimisers, never saved). They are a pure function of the config: the MA windows are drawn
//! from `U[min_avg_window, max_avg_window)` with a SplitMix64 stream seeded by `seed`, so
//! `config.init()` after loading a checkpoint rebuilds exactly the same kernels.
//!
//! Streaming form: an FIR filter over the last `K − 1` inputs (`K` = longest kernel), i.e.
//! `O(K)` per channel and step.
//!
//! Shape letters: `n` series, `l` time, `c` channels, `j` kernel taps.
use burn::prelude::*;

use crate::ssm::{ConvPath, causal_conv_cln};

/// Configuration of a [`Preprocess`] layer.
#[derive(Config, Debug)]
pub struct PreprocessConfig {
    /// Channels `C`.
    pub width: usize,
    /// Differencing orders `q` (kernel `(1 − z)^q`). Default `[0, 1, 2, 3]`.
    #[config(default = "vec![0, 1, 2, 3]")]
    pub diff_orders: Vec<usize>,
    /// Moving-average-residual kernel types per cycle. Default 4.
    #[config(default = 4)]
    pub n_ma_residual: usize,
    /// Smallest MA window (inclusive). Default 4 (`min_avg_window`).
    #[config(default = 4)]
    pub min_avg_window: usize,
    /// Largest MA window (exclusive). Default 64 (`max_avg_window`).
    #[config(default = 64)]
    pub max_avg_window: usize,
    /// Seed of the MA-window draw. Default 0.
    #[config(default = 0)]
    pub seed: u64,
    /// How the convolution is computed (same result on every path). Default [`ConvPath::Auto`].
    #[config(default = "ConvPath::Auto")]
    pub conv_path: ConvPath,
}

/// Fixed preprocessing convolution (frozen kernels, see module docs).
#[derive(Module, Debug)]
pub struct Preprocess {
    /// Frozen kernels, `[C, K]` (a constant, not a `Param`).
    pub kernel_cj: Tensor<2>,
    /// Convolution path of [`Self::forward`].
    #[module(skip)]
    pub conv_path: ConvPath,
}

impl PreprocessConfig {
    /// Host kernels, one per channel (channel `c` gets type `c mod n_types`; each channel of an MA
    /// type draws its own window).
    ///
    /// # Panics
    /// If there are no kernel types or the MA window range is empty while MA kernels are asked for.
    pub fn kernels(&self) -> Vec<Vec<f32>> {
        let n_types = self.diff_orders.len() + self.n_ma_residual;
        assert!(n_types > 0, "preprocessing needs at least one kernel type");
        assert!(
            self.n_ma_residual == 0
                || (1 <= self.min_avg_window && self.min_avg_window < self.max_avg_window),
            "MA window range [{}, {}) is empty",
            self.min_avg_window,
            self.max_avg_window
        );
        let mut rng = SplitMix64(self.seed);
        (0..self.width)
            .map(|c| {
                let t = c % n_types;
                match self.diff_orders.get(t) {
                    Some(&q) => diff_kernel(q),
                    None => {
                        let span = (self.max_avg_window - self.min_avg_window) as u64;
                        let m = self.min_avg_window + (rng.next() % span) as usize;
                        ma_residual_kernel(m)
                    }
                }
            })
            .collect()
    }

    /// Builds the layer.
    pub fn init(&self, device: &Device) -> Preprocess {
        let kernels = self.kernels();
        let taps = kernels.iter().map(Vec::len).max().unwrap_or(1);
        let mut flat = vec![0.0f32; self.width * taps];
        for (c, k) in kernels.iter().enumerate() {
            flat[c * taps..c * taps + k.len()].copy_from_slice(k);
        }
        Preprocess {
            kernel_cj: Tensor::from_data(TensorData::new(flat, [self.width, taps]), device),
            conv_path: self.conv_path,
        }
    }
}

/// Coefficients of `(1 − z)^q`.
pub fn diff_kernel(q: usize) -> Vec<f32> {
    let mut k = vec![1.0f32];
    for _ in 0..q {
        let mut next = vec![0.0f32; k.len() + 1];
        for (i, v) in k.iter().enumerate() {
            next[i] += v;
            next[i + 1] -= v;
        }
        k = next;
    }
    k
}

/// Moving-average residual kernel: `k_0 = 1 − 1/m`, `k_j = −1/m` for `1 ≤ j < m`.
pub fn ma_residual_kernel(m: usize) -> Vec<f32> {
    let inv = 1.0 / m as f32;
    (0..m).map(|j| if j == 0 { 1.0 - inv } else { -inv }).collect()
}

impl Preprocess {
    /// Longest kernel `K` (taps).
    pub fn taps(&self) -> usize {
        self.kernel_cj.dims()[1]
    }

    /// Convolution mode.
    ///
    /// # Shapes
    /// * `u_nlc`: `[N, L, C]`, returns `[N, L, C]`
    pub fn forward(&self, u_nlc: Tensor<3>) -> Tensor<3> {
        self.forward_cln(u_nlc.permute([2, 1, 0])).permute([2, 1, 0])
    }

    /// [`Self::forward`] in the channel-major layout used inside SpaceTime.
    ///
    /// # Shapes
    /// * `u_cln`: `[C, L, N]`, returns `[C, L, N]`
    pub fn forward_cln(&self, u_cln: Tensor<3>) -> Tensor<3> {
        causal_conv_cln(u_cln, self.kernel_cj.clone(), self.conv_path)
    }

    /// Streaming FIR step: `y_t = k_0 u_t + Σ_{j ≥ 1} k_j u_{t−j}`; `hist` holds `u_{t−1}, …,
    /// u_{t−K+1}` (most recent first) and is shifted by one.
    ///
    /// # Shapes
    /// * `u_nc`: `[N, C]`, `hist_ncj`: `[N, C, K − 1]`; returns `(y [N, C], hist [N, C, K − 1])`
    pub fn step(&self, u_nc: Tensor<2>, hist_ncj: Tensor<3>) -> (Tensor<2>, Tensor<3>) {
        let taps = self.taps();
        let [n, c] = u_nc.dims();
        let k0_c = self.kernel_cj.clone().narrow(1, 0, 1).reshape([1, c]);
        let mut y_nc = u_nc.clone() * k0_c;
        if taps == 1 {
            return (y_nc, hist_ncj);
        }
        let rest_1cj = self.kernel_cj.clone().narrow(1, 1, taps - 1).unsqueeze::<3>();
        y_nc = y_nc + (hist_ncj.clone() * rest_1cj).sum_dim(2).reshape([n, c]);
        let hist_ncj = Tensor::cat(vec![u_nc.reshape([n, c, 1]), hist_ncj.narrow(2, 0, taps - 2)], 2);
        (y_nc, hist_ncj)
    }
}

impl Preprocess {
    /// [`Self::step`] when every channel's input is the same scalar `u` (SpaceTime's default
    /// repeat embedding): the history is kept once per series, `[N, K − 1]`, instead of once per
    /// channel, and the `C` filters are one product `[u_t, u_{t−1}, …] · kernelᵀ`. Equal to
    /// [`Self::step`] on the repeated input up to float rounding.
    ///
    /// # Shapes
    /// * `u_n1`: `[N, 1]`, `hist_nj`: `[N, K − 1]`; returns `(y [N, C], hist [N, K − 1])`
    pub fn step_shared(&self, u_n1: Tensor<2>, hist_nj: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let taps = self.taps();
        let window_nk = if taps == 1 {
            u_n1
        } else {
            Tensor::cat(vec![u_n1, hist_nj], 1)
        };
        let y_nc = window_nk.clone().matmul(self.kernel_cj.clone().transpose());
        let hist_nj = window_nk.narrow(1, 0, taps - 1);
        (y_nc, hist_nj)
    }
}

/// SplitMix64: a tiny deterministic generator for the frozen MA windows.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
