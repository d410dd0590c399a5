//! Encoder SSM layer: companion or shift SSM with a `D` skip (`docs/spacetime.md` §2.2, §2.3, §2.6).
//!
//! ```text
//! bank (n_kernels, d) ──share (docs/spacetime.md §2.2 layout)──> per-channel k (C, L)
//! u (C, L, N) ──causal conv with k (FFT or Toeplitz, `ConvPath`)──(+ D ⊙ u)──> y (C, L, N)
//! step:  x_t = A x_{t−1} + b u_t,   y_t = cᵀ x_t + D u_t,   x_{−1} = 0       (docs/spacetime.md §1.1)
//! ```
//!
//! Shape letters: `n` series (batch · variates), `l` time, `c` channels (width), `d` state size,
//! `k` kernels in the bank.
use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;

use crate::ssm::{
    ConvPath, causal_conv_cln, channel_kernel_index, companion_kernel, companion_matrix, krylov, l1_project,
    shift_kernel,
};

/// Which SSM parameterisation a layer uses.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum SsmKind {
    /// Companion SSM: learnable `a, b, c` (`docs/spacetime.md` §2.2).
    Companion,
    /// Shift SSM: `a = 0`, `b = e₁` frozen (not parameters), learnable `c` (`docs/spacetime.md` §2.3).
    Shift,
}

/// Configuration of a [`CompanionSsm`].
#[derive(Config, Debug)]
pub struct CompanionSsmConfig {
    /// Number of channels `C` (model width).
    pub width: usize,
    /// State size `d` (`kernel_dim`). Default 64.
    #[config(default = 64)]
    pub state_dim: usize,
    /// Kernels in the bank. Default 128 (one per channel); block 1 of SpaceTime uses 16.
    #[config(default = 128)]
    pub n_kernels: usize,
    /// Consecutive channels sharing one kernel ("heads"). Default 1; block 1 of SpaceTime uses 8.
    #[config(default = 1)]
    pub n_heads: usize,
    /// Companion or shift parameterisation. Default companion.
    #[config(default = "SsmKind::Companion")]
    pub kind: SsmKind,
    /// 1: project `a` onto the L1 ball of radius `rho`; 0: no normalisation. Default 1.
    #[config(default = 1)]
    pub norm_order: usize,
    /// Stability radius ρ of the projection. Default 0.999 (`docs/spacetime.md` §2.2).
    #[config(default = 0.999)]
    pub rho: f64,
    /// Learnable per-channel skip `D` (`docs/spacetime.md` §2.6). Default true.
    #[config(default = true)]
    pub skip: bool,
    /// How the convolution is computed (same result on every path). Default [`ConvPath::Auto`].
    #[config(default = "ConvPath::Auto")]
    pub conv_path: ConvPath,
}

/// Companion (or shift) SSM layer: `y = k ∗ u + D ⊙ u` per channel, kernels shared per docs/spacetime.md §2.2.
#[derive(Module, Debug)]
pub struct CompanionSsm {
    /// Last column `a` of `A = S + a e_dᵀ`, `[n_kernels, d]`; `None` for the shift SSM (`a = 0`).
    pub a: Option<Param<Tensor<2>>>,
    /// Input vector `b`, `[n_kernels, d]`; `None` for the shift SSM (`b = e₁`).
    pub b: Option<Param<Tensor<2>>>,
    /// Output vector `c`, `[n_kernels, d]`.
    pub c: Param<Tensor<2>>,
    /// Skip `D`, `[C]`.
    pub d_skip: Option<Param<Tensor<1>>>,
    /// Channels `C`.
    pub width: usize,
    /// State size `d`.
    pub state_dim: usize,
    /// Kernels in the bank.
    pub n_kernels: usize,
    /// Channels per kernel group.
    pub n_heads: usize,
    /// 1: L1-project `a` to radius `rho`; 0: none.
    pub norm_order: usize,
    /// Stability radius ρ.
    pub rho: f64,
    /// Convolution path of [`Self::forward`].
    #[module(skip)]
    pub conv_path: ConvPath,
}

/// Per-channel SSM vectors after normalisation and kernel sharing.
#[derive(Debug, Clone)]
pub struct ChannelParams {
    /// `a`, `[C, d]`.
    pub a_cd: Tensor<2>,
    /// `b`, `[C, d]`.
    pub b_cd: Tensor<2>,
    /// `c`, `[C, d]`.
    pub c_cd: Tensor<2>,
}

impl CompanionSsmConfig {
    /// Builds the layer; `a, b, c, D ~ N(0, 1)` as in the reference (`docs/spacetime.md` §2.2).
    pub fn init(&self, device: &Device) -> CompanionSsm {
        let normal = Initializer::Normal { mean: 0.0, std: 1.0 };
        let bank = [self.n_kernels, self.state_dim];
        let learn_ab = self.kind == SsmKind::Companion;
        let _ = channel_kernel_index(self.width, self.n_kernels, self.n_heads, device); // validates layout
        CompanionSsm {
            a: learn_ab.then(|| normal.init(bank, device)),
            b: learn_ab.then(|| normal.init(bank, device)),
            c: normal.init(bank, device),
            d_skip: self.skip.then(|| normal.init([self.width], device)),
            width: self.width,
            state_dim: self.state_dim,
            n_kernels: self.n_kernels,
            n_heads: self.n_heads,
            norm_order: if learn_ab { self.norm_order } else { 0 },
            rho: self.rho,
            conv_path: self.conv_path,
        }
    }
}

/// `a, b` of the bank, with the frozen shift values when the layer has no parameters for them.
pub(crate) fn bank_ab(
    a: &Option<Param<Tensor<2>>>,
    b: &Option<Param<Tensor<2>>>,
    bank: [usize; 2],
    norm_order: usize,
    rho: f64,
    device: &Device,
) -> (Tensor<2>, Tensor<2>) {
    let a_kd = match a {
        Some(a) if norm_order >= 1 => l1_project(a.val(), rho),
        Some(a) => a.val(),
        None => Tensor::zeros(bank, device),
    };
    let b_kd = match b {
        Some(b) => b.val(),
        None => e1(bank, device),
    };
    (a_kd, b_kd)
}

/// Rows equal to `e₁`.
pub(crate) fn e1(shape: [usize; 2], device: &Device) -> Tensor<2> {
    let mut v = vec![0.0f32; shape[0] * shape[1]];
    v.iter_mut().step_by(shape[1]).for_each(|x| *x = 1.0);
    Tensor::from_data(TensorData::new(v, shape), device)
}

impl CompanionSsm {
    fn device(&self) -> Device {
        self.c.val().device()
    }

    /// Bank vectors `(a, b, c)` after normalisation (frozen shift values where not learnable).
    ///
    /// # Shapes
    /// * returns three `[n_kernels, d]` tensors
    pub fn bank(&self) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        let device = self.device();
        let bank = [self.n_kernels, self.state_dim];
        let (a_kd, b_kd) = bank_ab(&self.a, &self.b, bank, self.norm_order, self.rho, &device);
        (a_kd, b_kd, self.c.val())
    }

    /// Per-channel vectors after the docs/spacetime.md §2.2 sharing layout.
    ///
    /// # Shapes
    /// * returns `[C, d]` tensors
    pub fn channel_params(&self) -> ChannelParams {
        let idx = channel_kernel_index(self.width, self.n_kernels, self.n_heads, &self.device());
        let (a_kd, b_kd, c_kd) = self.bank();
        ChannelParams {
            a_cd: a_kd.select(0, idx.clone()),
            b_cd: b_kd.select(0, idx.clone()),
            c_cd: c_kd.select(0, idx),
        }
    }

    /// Per-channel convolution kernels `k_j = cᵀ A^j b`, `j < len`.
    ///
    /// # Shapes
    /// * returns `[C, len]`
    pub fn kernel(&self, len: usize) -> Tensor<2> {
        let idx = channel_kernel_index(self.width, self.n_kernels, self.n_heads, &self.device());
        let k_kl = match (&self.a, &self.b) {
            (None, None) => shift_kernel(self.c.val(), len),
            (Some(_), _) | (None, Some(_)) => {
                let (a_kd, b_kd, c_kd) = self.bank();
                companion_kernel(a_kd, b_kd, c_kd, len)
            }
        };
        k_kl.select(0, idx)
    }

    /// The map from a window of inputs to the state after it, per channel: column `i` is
    /// `A^{len−1−i} b`, so the state after `u_0..u_{len−1}` (from `x_{−1} = 0`) is
    /// `x = Σ_i A^{len−1−i} b u_i`, one product with the window (the Krylov matrix of `(A, b)`
    /// read backwards in time).
    ///
    /// # Shapes
    /// * returns `[C, d, len]`
    pub fn state_map(&self, len: usize) -> Tensor<3> {
        let idx = channel_kernel_index(self.width, self.n_kernels, self.n_heads, &self.device());
        let (a_kd, b_kd, _) = self.bank();
        let [nk, d] = a_kd.dims();
        krylov(companion_matrix(a_kd), b_kd.reshape([nk, d, 1]), len)
            .flip([2])
            .select(0, idx)
    }

    /// Convolution mode: `y = k ∗ u + D ⊙ u`.
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
        let [_, l, _] = u_cln.dims();
        self.forward_cln_with_kernel(u_cln, self.kernel(l))
    }

    /// [`Self::forward_cln`] with the kernels given (those of [`Self::kernel`] for this length,
    /// computed once by a caller that runs many windows through the same weights).
    ///
    /// # Shapes
    /// * `u_cln`: `[C, L, N]`, `k_cl`: `[C, L]`; returns `[C, L, N]`
    pub fn forward_cln_with_kernel(&self, u_cln: Tensor<3>, k_cl: Tensor<2>) -> Tensor<3> {
        let [c, _, _] = u_cln.dims();
        assert_eq!(
            c, self.width,
            "CompanionSsm: expected {} channels, got {c}",
            self.width
        );
        let y_cln = causal_conv_cln(u_cln.clone(), k_cl, self.conv_path);
        match &self.d_skip {
            Some(d) => y_cln + u_cln * d.val().reshape([c, 1, 1]),
            None => y_cln,
        }
    }

    /// Recurrent mode, one time step: `x_t = A x_{t−1} + b u_t`, `y_t = cᵀ x_t + D u_t`.
    ///
    /// `A x` costs `O(d)` per channel (shift + rank-1 update), so a step is `O(C·d)` per series.
    /// Starting from `x = 0` the outputs equal [`Self::forward`]'s.
    ///
    /// # Shapes
    /// * `u_nc`: `[N, C]`, `x_ncd`: `[N, C, d]`; returns `(y [N, C], x [N, C, d])`
    pub fn step(&self, u_nc: Tensor<2>, x_ncd: Tensor<3>) -> (Tensor<2>, Tensor<3>) {
        let p = self.channel_params();
        let x_ncd = companion_step(&p.a_cd, &p.b_cd, x_ncd, u_nc.clone());
        let [n, c, d] = x_ncd.dims();
        let y_nc = (x_ncd.clone() * p.c_cd.unsqueeze::<3>())
            .sum_dim(2)
            .reshape([n, c]);
        let y_nc = match &self.d_skip {
            Some(skip) => y_nc + u_nc * skip.val().unsqueeze::<2>(),
            None => y_nc,
        };
        debug_assert_eq!([n, c, d], x_ncd.dims());
        (y_nc, x_ncd)
    }
}

impl CompanionSsm {
    /// [`Self::step`] on a host state, updated in place ([`super::host_step`]: the CPU
    /// backend's kernel); returns `y`.
    ///
    /// # Shapes
    /// * `u_nc`: `[N, C]`, `x_ncd`: `[N, C, d]` row-major; returns `[N, C]`
    pub fn step_in_place(&self, u_nc: Tensor<2>, x_ncd: &mut [f32]) -> Tensor<2> {
        self.step_in_place_many(u_nc, &mut [x_ncd])
    }

    /// [`Self::step_in_place`] of several host states, each in its own buffer (`xs[i]`:
    /// `[N_i, C, d]`; `u_nc` holds their rows in order); returns `[Σ N_i, C]`.
    pub fn step_in_place_many(&self, u_nc: Tensor<2>, xs: &mut [&mut [f32]]) -> Tensor<2> {
        let device = u_nc.device();
        let [n, c] = u_nc.dims();
        let p = self.channel_params();
        let skip = self.d_skip.as_ref().map(|s| host_values(s.val()));
        let y = super::host_step::companion_step_in_place_many(
            &host_values(p.a_cd),
            &host_values(p.b_cd),
            &host_values(p.c_cd),
            skip.as_deref(),
            xs,
            &host_values(u_nc),
            c,
        );
        Tensor::from_data(TensorData::new(y, [n, c]), &device)
    }
}

pub(crate) fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32 tensor data")
}

/// One companion recursion step `x ← A x + b u` with `A = S + a e_dᵀ`, in `O(d)` per channel.
///
/// # Shapes
/// * `a_cd`, `b_cd`: `[C, d]`, `x_ncd`: `[N, C, d]`, `u_nc`: `[N, C]`; returns `[N, C, d]`
pub(crate) fn companion_step(
    a_cd: &Tensor<2>,
    b_cd: &Tensor<2>,
    x_ncd: Tensor<3>,
    u_nc: Tensor<2>,
) -> Tensor<3> {
    let [n, c, d] = x_ncd.dims();
    let last_nc1 = x_ncd.clone().narrow(2, d - 1, 1);
    let shifted = if d == 1 {
        Tensor::zeros([n, c, 1], &x_ncd.device())
    } else {
        Tensor::cat(
            vec![
                Tensor::zeros([n, c, 1], &x_ncd.device()),
                x_ncd.narrow(2, 0, d - 1),
            ],
            2,
        )
    };
    shifted
        + last_nc1 * a_cd.clone().unsqueeze::<3>()
        + u_nc.reshape([n, c, 1]) * b_cd.clone().unsqueeze::<3>()
}
