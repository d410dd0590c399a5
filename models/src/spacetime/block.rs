//! Encoder blocks and the block MLP (`docs/spacetime.md` §2.6, §2.8).
//!
//! ```text
//! block 1:   u ──Pre──> z ──SSM(+D)──> y ──MLP──> + z      (skip from the *preprocessed* input)
//! block ≥2:  u ─────────────SSM(+D)──> y ──MLP──> + u
//! MLP(y) = y + W · Dropout(GELU(y))                         (W: Linear(C → C), internal residual)
//! ```
//!
//! Shape letters: `n` series, `l` time, `c` channels, `d` state size, `j` preprocessing taps.
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::gelu;

use super::preprocess::{Preprocess, PreprocessConfig};
use super::ssm_layer::{CompanionSsm, CompanionSsmConfig};
use super::trace::{Trace, record};
use crate::ssm::precise::layer_matmul;

/// Block MLP `y + W·Dropout(GELU(y))` (pre-activation, one linear layer, internal residual).
#[derive(Module, Debug)]
pub struct Mlp {
    /// `W`, `[C, C]` with bias.
    pub linear: Linear,
    /// Dropout on the activation.
    pub dropout: Dropout,
}

impl Mlp {
    /// Builds the MLP for `width` channels.
    pub fn new(width: usize, dropout: f64, device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(width, width).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// Point-wise in time, so it serves both the convolution and the step path.
    ///
    /// # Shapes
    /// * `y_..c`: `[…, C]`, returns the same shape
    pub fn forward<const D: usize>(&self, y: Tensor<D>) -> Tensor<D> {
        y.clone() + self.linear.forward(dropout(&self.dropout, gelu(y)))
    }

    /// [`Self::forward`] in the channel-major layout: `y + Wᵀ·Dropout(GELU(y)) + bias` as one
    /// `[C, C] × [C, L·N]` matmul (same weights and values as the `[…, C]` form).
    ///
    /// # Shapes
    /// * `y_cln`: `[C, L, N]`, returns `[C, L, N]`
    pub fn forward_cln(&self, y_cln: Tensor<3>) -> Tensor<3> {
        y_cln.clone() + linear_cln(&self.linear, dropout(&self.dropout, gelu(y_cln)))
    }
}

/// Dropout with exactly the semantics of burn's `Dropout::forward` (active only on an autodiff
/// device with the layer's training flag set and `p > 0`; kept entries scaled by `1/(1 − p)`).
///
/// Only the source of the Bernoulli keep-mask differs on the CPU backend (`flex`): burn draws one
/// ChaCha sample per element there (~20 ns each, ≈ 0.3 s per SpaceTime training step at the
/// default sizes), we draw a 64-bit seed from burn's generator (so `Device::seed` still makes
/// runs reproducible) and expand it with SplitMix64 (two 32-bit draws per step, `keep` iff the
/// draw is below `(1 − p)·2³²`). Other backends keep burn's device-side `random`.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let keep = 1.0 - layer.prob;
    if device.clone().inner() != Device::flex() {
        // burn's own formulation (`x · Bernoulli(keep) · 1/keep`).
        let mask = x.random_like(Distribution::Bernoulli(keep));
        return x * mask * (1.0 / keep);
    }
    let seed_2 = Tensor::<1>::random([2], Distribution::Uniform(0.0, 1.0), &device.clone().inner())
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 data");
    let mut state = (u64::from(seed_2[0].to_bits()) << 32) | u64::from(seed_2[1].to_bits());
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let shape = x.shape();
    let numel = shape.num_elements();
    let mut mask = vec![0.0f32; numel + 1];
    for pair in mask.chunks_exact_mut(2) {
        let r = splitmix64(&mut state);
        pair[0] = if (r & 0xFFFF_FFFF) < threshold { scale } else { 0.0 };
        pair[1] = if (r >> 32) < threshold { scale } else { 0.0 };
    }
    mask.truncate(numel);
    x * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
}

/// One SplitMix64 step.
#[inline(always)]
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `Linear` applied along the leading (channel) axis: `out[o, …] = Σ_i W[i, o] x[i, …] + bias[o]`
/// (burn's `Linear` computes `x W + bias` with `W: [d_in, d_out]`).
///
/// # Shapes
/// * `x_c..`: `[C_in, …]`, returns `[C_out, …]`
pub(crate) fn linear_cln(linear: &Linear, x_cln: Tensor<3>) -> Tensor<3> {
    let [c, l, n] = x_cln.dims();
    let w_io = linear.weight.val();
    let [d_in, d_out] = w_io.dims();
    assert_eq!(c, d_in, "linear_cln: {c} channels into a {d_in}-input layer");
    let y_om = layer_matmul(w_io.transpose(), x_cln.reshape([c, l * n]));
    let y_om = match &linear.bias {
        Some(b) => y_om + b.val().reshape([d_out, 1]),
        None => y_om,
    };
    y_om.reshape([d_out, l, n])
}

/// Configuration of an [`EncoderBlock`].
#[derive(Config, Debug)]
pub struct EncoderBlockConfig {
    /// The block's SSM.
    pub ssm: CompanionSsmConfig,
    /// Preprocessing (block 1 only); its skip then starts from the preprocessed input.
    pub preprocess: Option<PreprocessConfig>,
    /// Dropout of the MLP. Default 0.25.
    #[config(default = 0.25)]
    pub dropout: f64,
}

/// One encoder block: `[Pre] → SSM(+D) → MLP → + skip`.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    /// Fixed preprocessing (block 1).
    pub pre: Option<Preprocess>,
    /// Companion/shift SSM with `D` skip.
    pub ssm: CompanionSsm,
    /// Block MLP.
    pub mlp: Mlp,
}

/// Recurrent state of one [`EncoderBlock`].
#[derive(Debug, Clone)]
pub struct EncoderBlockState {
    /// Preprocessing history `u_{t−1}, …, u_{t−K+1}`, `[N, C, K − 1]` (`None` without preprocessing).
    pub hist_ncj: Option<Tensor<3>>,
    /// SSM state `x_t`, `[N, C, d]`.
    pub x_ncd: Tensor<3>,
}

impl EncoderBlockConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> EncoderBlock {
        EncoderBlock {
            pre: self.preprocess.as_ref().map(|p| p.init(device)),
            ssm: self.ssm.init(device),
            mlp: Mlp::new(self.ssm.width, self.dropout, device),
        }
    }
}

impl EncoderBlock {
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
        self.forward_cln_traced(u_cln, None, "")
    }

    /// [`Self::forward_cln`], recording the preprocessed input, the SSM kernel, the SSM output and
    /// the block output into `trace` as `{prefix}.pre`, `.ssm.kernel`, `.ssm`, `.out`.
    ///
    /// # Shapes
    /// * `u_cln`: `[C, L, N]`, returns `[C, L, N]`
    pub fn forward_cln_traced(
        &self,
        u_cln: Tensor<3>,
        mut trace: Option<&mut Trace>,
        prefix: &str,
    ) -> Tensor<3> {
        let z_cln = match &self.pre {
            Some(pre) => pre.forward_cln(u_cln),
            None => u_cln,
        };
        if trace.is_some() {
            record(&mut trace, &format!("{prefix}.pre"), &z_cln);
            let [_, l, _] = z_cln.dims();
            record(&mut trace, &format!("{prefix}.ssm.kernel"), &self.ssm.kernel(l));
        }
        let y_cln = self.ssm.forward_cln(z_cln.clone());
        record(&mut trace, &format!("{prefix}.ssm"), &y_cln);
        let out_cln = self.mlp.forward_cln(y_cln) + z_cln;
        record(&mut trace, &format!("{prefix}.out"), &out_cln);
        out_cln
    }

    /// The part of [`Self::forward_cln`] after the preprocessing, with the SSM's kernels given
    /// ([`CompanionSsm::forward_cln_with_kernel`]): `z_cln` is the preprocessed input (the input
    /// itself without preprocessing).
    ///
    /// # Shapes
    /// * `z_cln`: `[C, L, N]`, `k_cl`: `[C, L]`; returns `[C, L, N]`
    pub fn after_pre_cln(&self, z_cln: Tensor<3>, k_cl: Tensor<2>) -> Tensor<3> {
        let y_cln = self.ssm.forward_cln_with_kernel(z_cln.clone(), k_cl);
        self.mlp.forward_cln(y_cln) + z_cln
    }

    /// Zero state for `n` series.
    ///
    /// # Shapes
    /// * `hist`: `[n, C, K − 1]`, `x`: `[n, C, d]`
    pub fn zero_state(&self, n: usize, device: &Device) -> EncoderBlockState {
        let c = self.ssm.width;
        EncoderBlockState {
            hist_ncj: self
                .pre
                .as_ref()
                .map(|p| Tensor::zeros([n, c, p.taps().saturating_sub(1)], device)),
            x_ncd: Tensor::zeros([n, c, self.ssm.state_dim], device),
        }
    }

    /// [`Self::step`] after the preprocessing: `z_nc` is the preprocessed input (or the input
    /// itself without preprocessing); returns the block output and the new SSM state.
    ///
    /// # Shapes
    /// * `z_nc`: `[N, C]`, `x_ncd`: `[N, C, d]`
    pub fn step_after_pre(&self, z_nc: Tensor<2>, x_ncd: Tensor<3>) -> (Tensor<2>, Tensor<3>) {
        let (y_nc, x_ncd) = self.ssm.step(z_nc.clone(), x_ncd);
        (self.mlp.forward(y_nc) + z_nc, x_ncd)
    }

    /// [`Self::step_after_pre`] with the SSM state on the host, updated in place (the CPU
    /// backend's kernel, [`super::host_step`]).
    ///
    /// # Shapes
    /// * `z_nc`: `[N, C]`, `x_ncd`: `[N, C, d]` row-major
    pub fn step_after_pre_in_place(&self, z_nc: Tensor<2>, x_ncd: &mut [f32]) -> Tensor<2> {
        self.step_after_pre_in_place_many(z_nc, &mut [x_ncd])
    }

    /// [`Self::step_after_pre_in_place`] of several host states, each in its own buffer
    /// (`xs[i]`: `[N_i, C, d]`; `z_nc` holds their rows in order).
    pub fn step_after_pre_in_place_many(&self, z_nc: Tensor<2>, xs: &mut [&mut [f32]]) -> Tensor<2> {
        let y_nc = self.ssm.step_in_place_many(z_nc.clone(), xs);
        self.mlp.forward(y_nc) + z_nc
    }

    /// Recurrent mode, one time step (equals [`Self::forward`] from the zero state).
    ///
    /// # Shapes
    /// * `u_nc`: `[N, C]`; returns `[N, C]`
    pub fn step(&self, u_nc: Tensor<2>, state: EncoderBlockState) -> (Tensor<2>, EncoderBlockState) {
        let (z_nc, hist_ncj) = match (&self.pre, state.hist_ncj) {
            (Some(pre), Some(hist)) => {
                let (z, h) = pre.step(u_nc, hist);
                (z, Some(h))
            }
            (Some(_), None) | (None, Some(_)) => panic!("EncoderBlock::step: state does not match the block"),
            (None, None) => (u_nc, None),
        };
        let (y_nc, x_ncd) = self.ssm.step(z_nc.clone(), state.x_ncd);
        (
            self.mlp.forward(y_nc) + z_nc,
            EncoderBlockState { hist_ncj, x_ncd },
        )
    }
}
