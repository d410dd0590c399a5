//! Closed-loop companion SSM decoder (`docs/spacetime.md` §2.7).
//!
//! ```text
//! z (C, L, N) ── open loop:  yᵒ = (cᵀAʲb) ∗ z,  ẑᵒ = (kᵀAʲb) ∗ z      (position t predicts t+1)
//!             └─ x_L = Σ_i A^{L−1−i} b z_i = X · reverse(z),  X = [b, Ab, …, A^{L−1}b]
//!                closed loop:  x_{L+h} = (A + b kᵀ)^h x_L
//!                ŷ_{L+h} = cᵀ x_{L+h} (→ head → forecast),  ẑ_{L+h} = kᵀ x_{L+h} (auxiliary)
//! ```
//!
//! Convention (docs/spacetime.md §1.1, SpaceTime form): `x_{t+1} = A x_t + b z_t`, `x_0 = 0`, `yᵒ_t = cᵀ x_{t+1}`.
//! Hence `ŷ_L = cᵀ x_L = yᵒ_{L−1}`.
//!
//! **Horizon outputs without per-series Krylov.** Instead of `(A + b kᵀ)^h x_L` for every series
//! (cost `N·C·H·d²`), we run the repeated-squaring Krylov on the transpose with the start vectors
//! `[c, k]`: rows `cᵀ M^h`, `kᵀ M^h` (`C·d³·log H`, independent of the batch) and contract them with
//! `x_L` (`N·C·H·d`). Identical values; the step path checks this with an explicit rollout.
//!
//! Differences from the reference (docs/spacetime.md §2.13): `a` is projected to `‖a‖₁ ≤ ρ`; `b, c, k` are projected
//! to `‖·‖₁ ≤ 1` and the *same* normalised `b` and `k` are used everywhere (look-back state,
//! `A + b kᵀ`, the auxiliary output); the shift variant uses its learnable `k` (never `b`).
//!
//! Shape letters: `n` series, `l` look-back, `h` horizon, `c` channels, `d` state, `k` kernels.
use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;

use super::ssm_layer::{SsmKind, bank_ab, companion_step};
use super::trace::{Trace, record};
use crate::ssm::{
    ConvPath, causal_conv_many_cln, channel_kernel_index, companion_matrix, krylov, l1_project,
    precise_matmul,
};

/// Configuration of a [`ClosedLoopSsm`].
#[derive(Config, Debug)]
pub struct ClosedLoopSsmConfig {
    /// Channels `C`.
    pub width: usize,
    /// State size `d`. Default 64.
    #[config(default = 64)]
    pub state_dim: usize,
    /// Kernels in the bank. Default 128 (one per channel).
    #[config(default = 128)]
    pub n_kernels: usize,
    /// Consecutive channels sharing a kernel. Default 1.
    #[config(default = 1)]
    pub n_heads: usize,
    /// Companion or shift parameterisation. Default companion.
    #[config(default = "SsmKind::Companion")]
    pub kind: SsmKind,
    /// 1: L1 projections (`a` to ρ; `b, c, k` to 1); 0: none. Default 1 (forced 0 for shift).
    #[config(default = 1)]
    pub norm_order: usize,
    /// Stability radius ρ. Default 0.999.
    #[config(default = 0.999)]
    pub rho: f64,
    /// How the open-loop convolutions are computed (same result on every path). Default
    /// [`ConvPath::Auto`].
    #[config(default = "ConvPath::Auto")]
    pub conv_path: ConvPath,
}

/// Closed-loop companion SSM (no `D` skip, no MLP).
#[derive(Module, Debug)]
pub struct ClosedLoopSsm {
    /// Last column `a`, `[n_kernels, d]`; `None` for the shift SSM.
    pub a: Option<Param<Tensor<2>>>,
    /// Input vector `b`, `[n_kernels, d]`; `None` for the shift SSM (`e₁`).
    pub b: Option<Param<Tensor<2>>>,
    /// Output vector `c`, `[n_kernels, d]`.
    pub c: Param<Tensor<2>>,
    /// Next-input predictor `k` (`K = kᵀ`), `[n_kernels, d]`.
    pub k: Param<Tensor<2>>,
    /// Channels `C`.
    pub width: usize,
    /// State size `d`.
    pub state_dim: usize,
    /// Kernels in the bank.
    pub n_kernels: usize,
    /// Channels per kernel group.
    pub n_heads: usize,
    /// 1: L1 projections; 0: none.
    pub norm_order: usize,
    /// Stability radius ρ.
    pub rho: f64,
    /// Convolution path of the open loop.
    #[module(skip)]
    pub conv_path: ConvPath,
}

/// Per-channel decoder vectors after normalisation and sharing, each `[C, d]`.
#[derive(Debug, Clone)]
pub struct DecoderParams {
    /// `a`.
    pub a_cd: Tensor<2>,
    /// `b`.
    pub b_cd: Tensor<2>,
    /// `c`.
    pub c_cd: Tensor<2>,
    /// `k`.
    pub k_cd: Tensor<2>,
}

/// What [`ClosedLoopSsm::forward_cln`] produces, in the channel-major layout.
#[derive(Debug, Clone)]
pub struct DecoderOutputCln {
    /// Closed-loop outputs `ŷ_{L+h} = cᵀ x_{L+h}`, `[C, H, N]`.
    pub y_chn: Tensor<3>,
    /// Closed-loop next-input predictions `ẑ_{L+h}`, `[C, H, N]` (only when asked for).
    pub zhat_chn: Option<Tensor<3>>,
    /// Open-loop outputs over the look-back, `[C, L, N]`.
    pub y_open_cln: Tensor<3>,
    /// Open-loop next-input predictions `ẑᵒ`, `[C, L, N]`.
    pub zhat_open_cln: Tensor<3>,
}

/// Everything the decoder produces.
#[derive(Debug, Clone)]
pub struct DecoderOutput {
    /// Closed-loop outputs `ŷ_{L+h} = cᵀ x_{L+h}`, `[N, H, C]`.
    pub y_nhc: Tensor<3>,
    /// Auxiliary closed-loop next-input predictions `ẑ_{L+h} = kᵀ x_{L+h}`, `[N, H, C]`.
    pub zhat_nhc: Tensor<3>,
    /// Open-loop outputs over the look-back, `[N, L, C]` (position `t` predicts `t + 1`).
    pub y_open_nlc: Tensor<3>,
    /// Open-loop next-input predictions `ẑᵒ`, `[N, L, C]` (position `t` predicts `z_{t+1}`).
    pub zhat_open_nlc: Tensor<3>,
}

impl ClosedLoopSsmConfig {
    /// Builds the decoder; all vectors `~ N(0, 1)`.
    pub fn init(&self, device: &Device) -> ClosedLoopSsm {
        let normal = Initializer::Normal { mean: 0.0, std: 1.0 };
        let bank = [self.n_kernels, self.state_dim];
        let learn_ab = self.kind == SsmKind::Companion;
        let _ = channel_kernel_index(self.width, self.n_kernels, self.n_heads, device); // validates layout
        ClosedLoopSsm {
            a: learn_ab.then(|| normal.init(bank, device)),
            b: learn_ab.then(|| normal.init(bank, device)),
            c: normal.init(bank, device),
            k: normal.init(bank, device),
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

impl ClosedLoopSsm {
    fn device(&self) -> Device {
        self.c.val().device()
    }

    /// Bank vectors `(a, b, c, k)` after normalisation, each `[n_kernels, d]`.
    fn bank(&self) -> [Tensor<2>; 4] {
        let bank = [self.n_kernels, self.state_dim];
        let (a_kd, b_kd) = bank_ab(&self.a, &self.b, bank, self.norm_order, self.rho, &self.device());
        let unit = |x: Tensor<2>| {
            if self.norm_order >= 1 {
                l1_project(x, 1.0)
            } else {
                x
            }
        };
        let b_kd = if self.b.is_some() { unit(b_kd) } else { b_kd };
        [a_kd, b_kd, unit(self.c.val()), unit(self.k.val())]
    }

    /// Per-channel vectors after normalisation and the docs/spacetime.md §2.2 sharing layout.
    ///
    /// # Shapes
    /// * each field `[C, d]`
    pub fn channel_params(&self) -> DecoderParams {
        let idx = channel_kernel_index(self.width, self.n_kernels, self.n_heads, &self.device());
        let [a, b, c, k] = self.bank().map(|t| t.select(0, idx.clone()));
        DecoderParams {
            a_cd: a,
            b_cd: b,
            c_cd: c,
            k_cd: k,
        }
    }

    /// Rows `cᵀM^h` (`h = 0..horizon`) of the closed-loop matrix `M = A + b kᵀ`, per channel:
    /// the closed-loop output `ŷ_h = cᵀM^h x` of a state `x` is one product with them
    /// ([`Self::rollout`] without the step loop, as [`Self::forward_cln`] computes it).
    ///
    /// # Shapes
    /// * returns `[C, horizon, d]`
    pub fn closed_rows(&self, horizon: usize) -> Tensor<3> {
        let d = self.state_dim;
        let nk = self.n_kernels;
        let idx = channel_kernel_index(self.width, self.n_kernels, self.n_heads, &self.device());
        let [a_kd, b_kd, c_kd, k_kd] = self.bank();
        let m_kdd = companion_matrix(a_kd) + b_kd.reshape([nk, d, 1]) * k_kd.reshape([nk, 1, d]);
        let rows_kdh = krylov(m_kdd.swap_dims(1, 2), c_kd.reshape([nk, d, 1]), horizon);
        rows_kdh.swap_dims(1, 2).select(0, idx)
    }

    /// What priming a state on a window of `len` inputs needs from the weights, per channel:
    /// the open-loop output kernel `cᵀAʲb`, `[C, len]` (the look-back predictions), and the map
    /// from the window to the state after it, `[C, d, len]` (column `i` is `A^{len−1−i} b`), as
    /// [`Self::forward_cln`] computes them.
    pub fn prime_kernels(&self, len: usize) -> (Tensor<2>, Tensor<3>) {
        let d = self.state_dim;
        let nk = self.n_kernels;
        let idx = channel_kernel_index(self.width, self.n_kernels, self.n_heads, &self.device());
        let [a_kd, b_kd, c_kd, _] = self.bank();
        let x_kdl = krylov(companion_matrix(a_kd), b_kd.reshape([nk, d, 1]), len);
        let open_kl = precise_matmul(c_kd.reshape([nk, 1, d]), x_kdl.clone()).reshape([nk, len]);
        (open_kl.select(0, idx.clone()), x_kdl.flip([2]).select(0, idx))
    }

    /// Closed-loop outputs `ŷ` of `horizon` steps from states `x`, one batched product with
    /// [`Self::closed_rows`] (equal to [`Self::rollout`]'s `ŷ` up to float rounding).
    ///
    /// # Shapes
    /// * `x_ncd`: `[N, C, d]`; returns `[N, horizon, C]`
    pub fn closed_outputs(&self, x_ncd: Tensor<3>, horizon: usize) -> Tensor<3> {
        let y_chn = precise_matmul(self.closed_rows(horizon), x_ncd.permute([1, 2, 0]));
        y_chn.permute([2, 1, 0])
    }

    /// Open loop over the look-back plus the closed-loop horizon (module docs).
    ///
    /// # Shapes
    /// * `z_nlc`: `[N, L, C]`; see [`DecoderOutput`] for the outputs
    pub fn forward(&self, z_nlc: Tensor<3>, horizon: usize) -> DecoderOutput {
        let out = self.forward_cln(z_nlc.permute([2, 1, 0]), horizon, true);
        let nlc = |t: Tensor<3>| t.permute([2, 1, 0]);
        DecoderOutput {
            y_nhc: nlc(out.y_chn),
            zhat_nhc: nlc(out.zhat_chn.expect("asked for the closed-loop next inputs")),
            y_open_nlc: nlc(out.y_open_cln),
            zhat_open_nlc: nlc(out.zhat_open_cln),
        }
    }

    /// [`Self::forward`] in the channel-major layout used inside SpaceTime. The closed-loop
    /// next-input predictions `ẑ_{L+h}` (not used by the SpaceTime loss) are computed only when
    /// `with_zhat` is set.
    ///
    /// All kernel-side work (Krylov matrices, open-loop kernels, closed-loop rows) runs once per
    /// kernel of the bank and is shared by the channels afterwards (docs/spacetime.md §2.2 layout).
    ///
    /// # Shapes
    /// * `z_cln`: `[C, L, N]`; see [`DecoderOutputCln`] for the outputs
    pub fn forward_cln(&self, z_cln: Tensor<3>, horizon: usize, with_zhat: bool) -> DecoderOutputCln {
        self.forward_cln_traced(z_cln, horizon, with_zhat, None)
    }

    /// [`Self::forward_cln`], recording the bank vectors, the Krylov matrix, the open-loop output,
    /// the look-back state `x_L`, the closed-loop rows and `ŷ` into `trace` (prefix `decoder.`).
    ///
    /// # Shapes
    /// * as [`Self::forward_cln`]
    pub fn forward_cln_traced(
        &self,
        z_cln: Tensor<3>,
        horizon: usize,
        with_zhat: bool,
        mut trace: Option<&mut Trace>,
    ) -> DecoderOutputCln {
        let [c, l, _] = z_cln.dims();
        let d = self.state_dim;
        assert_eq!(
            c, self.width,
            "ClosedLoopSsm: expected {} channels, got {c}",
            self.width
        );
        assert!(horizon >= 1, "ClosedLoopSsm: horizon must be >= 1");
        let idx = channel_kernel_index(self.width, self.n_kernels, self.n_heads, &self.device());
        let per_channel = |t: Tensor<3>| t.select(0, idx.clone());
        let [a_kd, b_kd, c_kd, k_kd] = self.bank();
        for (name, t) in [("a", &a_kd), ("b", &b_kd), ("c", &c_kd), ("k", &k_kd)] {
            record(&mut trace, &format!("decoder.bank.{name}"), t);
        }
        let nk = self.n_kernels;
        // Krylov matrix X = [b, Ab, …, A^{L−1}b] per kernel.
        let x_kdl = krylov(
            companion_matrix(a_kd.clone()),
            b_kd.clone().reshape([nk, d, 1]),
            l,
        );
        record(&mut trace, "decoder.krylov", &x_kdl);
        // Open loop: kernels cᵀAʲb and kᵀAʲb, one convolution call for both (shared input work).
        let open_kernel = |v_kd: Tensor<2>| {
            let k_kl = precise_matmul(v_kd.reshape([nk, 1, d]), x_kdl.clone()).reshape([nk, l]);
            k_kl.select(0, idx.clone())
        };
        let mut open = causal_conv_many_cln(
            z_cln.clone(),
            vec![open_kernel(c_kd.clone()), open_kernel(k_kd.clone())],
            self.conv_path,
        );
        let zhat_open_cln = open.pop().expect("two outputs");
        let y_open_cln = open.pop().expect("two outputs");
        record(&mut trace, "decoder.y_open", &y_open_cln);
        // Final look-back state x_L = X · reverse(z) = reverse_time(X) · z (flip the small factor).
        let x_cdn = precise_matmul(per_channel(x_kdl.flip([2])), z_cln);
        record(&mut trace, "decoder.x_L", &x_cdn);
        // Rows cᵀM^h (and kᵀM^h) of the closed-loop matrix M = A + b kᵀ, per kernel.
        let m_kdd = companion_matrix(a_kd) + b_kd.reshape([nk, d, 1]) * k_kd.clone().reshape([nk, 1, d]);
        let mut starts = vec![c_kd.reshape([nk, d, 1])];
        if with_zhat {
            starts.push(k_kd.reshape([nk, d, 1]));
        }
        let m = starts.len();
        let rows_kdt = krylov(m_kdd.swap_dims(1, 2), Tensor::cat(starts, 2), horizon);
        // Column h·m + i of the Krylov output is (Mᵀ)^h v_i; split by start vector i.
        let rows_chd = |i: usize| {
            let rows_kdh = if m == 1 {
                rows_kdt.clone()
            } else {
                rows_kdt
                    .clone()
                    .reshape([nk, d, horizon, m])
                    .narrow(3, i, 1)
                    .reshape([nk, d, horizon])
            };
            per_channel(rows_kdh.swap_dims(1, 2))
        };
        record(&mut trace, "decoder.closed_rows", &rows_kdt);
        let y_chn = precise_matmul(rows_chd(0), x_cdn.clone());
        record(&mut trace, "decoder.y", &y_chn);
        let zhat_chn = with_zhat.then(|| precise_matmul(rows_chd(1), x_cdn));
        DecoderOutputCln {
            y_chn,
            zhat_chn,
            y_open_cln,
            zhat_open_cln,
        }
    }

    /// Open-loop step over the look-back: `x ← A x + b z_t`, `yᵒ_t = cᵀ x`, `ẑᵒ_t = kᵀ x`.
    ///
    /// # Shapes
    /// * `z_nc`: `[N, C]`, `x_ncd`: `[N, C, d]`; returns `(yᵒ [N, C], ẑᵒ [N, C], x [N, C, d])`
    pub fn step(&self, z_nc: Tensor<2>, x_ncd: Tensor<3>) -> (Tensor<2>, Tensor<2>, Tensor<3>) {
        let p = self.channel_params();
        let x_ncd = companion_step(&p.a_cd, &p.b_cd, x_ncd, z_nc);
        let (y, zhat) = (readout(&p.c_cd, &x_ncd), readout(&p.k_cd, &x_ncd));
        (y, zhat, x_ncd)
    }

    /// [`Self::step`]'s open-loop output `yᵒ` on a host state, updated in place
    /// ([`super::host_step`]: the CPU backend's kernel).
    ///
    /// # Shapes
    /// * `z_nc`: `[N, C]`, `x_ncd`: `[N, C, d]` row-major; returns `[N, C]`
    pub fn step_in_place(&self, z_nc: Tensor<2>, x_ncd: &mut [f32]) -> Tensor<2> {
        self.step_in_place_many(z_nc, &mut [x_ncd])
    }

    /// [`Self::step_in_place`] of several host states, each in its own buffer (`xs[i]`:
    /// `[N_i, C, d]`; `z_nc` holds their rows in order); returns `[Σ N_i, C]`.
    pub fn step_in_place_many(&self, z_nc: Tensor<2>, xs: &mut [&mut [f32]]) -> Tensor<2> {
        let device = z_nc.device();
        let [n, c] = z_nc.dims();
        let p = self.channel_params();
        let host = super::ssm_layer::host_values;
        let y = super::host_step::companion_step_in_place_many(
            &host(p.a_cd),
            &host(p.b_cd),
            &host(p.c_cd),
            None,
            xs,
            &host(z_nc),
            c,
        );
        Tensor::from_data(TensorData::new(y, [n, c]), &device)
    }

    /// Closed-loop rollout from the look-back state, one step at a time:
    /// `ŷ = cᵀ x`, `ẑ = kᵀ x`, `x ← A x + b ẑ` (the prediction is appended to the input).
    ///
    /// # Shapes
    /// * `x_ncd`: `[N, C, d]` (`x_L`); returns `(ŷ [N, H, C], ẑ [N, H, C])`
    pub fn rollout(&self, x_ncd: Tensor<3>, horizon: usize) -> (Tensor<3>, Tensor<3>) {
        let p = self.channel_params();
        let mut x_ncd = x_ncd;
        let (mut ys, mut zs) = (Vec::with_capacity(horizon), Vec::with_capacity(horizon));
        for _ in 0..horizon {
            let zhat_nc = readout(&p.k_cd, &x_ncd);
            ys.push(readout(&p.c_cd, &x_ncd).unsqueeze_dim::<3>(1));
            zs.push(zhat_nc.clone().unsqueeze_dim::<3>(1));
            x_ncd = companion_step(&p.a_cd, &p.b_cd, x_ncd, zhat_nc);
        }
        (Tensor::cat(ys, 1), Tensor::cat(zs, 1))
    }
}

/// `vᵀ x` per channel.
///
/// # Shapes
/// * `v_cd`: `[C, d]`, `x_ncd`: `[N, C, d]`; returns `[N, C]`
fn readout(v_cd: &Tensor<2>, x_ncd: &Tensor<3>) -> Tensor<2> {
    let [n, c, _] = x_ncd.dims();
    (x_ncd.clone() * v_cd.clone().unsqueeze::<3>())
        .sum_dim(2)
        .reshape([n, c])
}
