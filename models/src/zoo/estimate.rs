//! [`SizeEstimate`]: how large a configured model is, and roughly how much memory training it
//! takes, computed from the configuration alone (nothing is allocated), so a server can refuse
//! a model that would not fit before building it.
//!
//! - **Parameters** are counted exactly: the same tensors each family's `init` creates
//!   (tested against `num_params()` of built models).
//! - **Training memory** is an estimate in bytes of `f32`: the weights with their gradients and
//!   the two AdamW moments (4 × parameters), plus the activations one optimisation step keeps
//!   for the backward pass. Activations are counted per layer as a small number of tensors of
//!   the layer's output shape (the counts below, chosen on the generous side: inputs, outputs,
//!   masks and gradients of one layer), plus the Toeplitz matrices of the convolutions
//!   (`[C, L, L]`, with their gradients) or the FFT buffers above
//!   [`crate::ssm::TOEPLITZ_MAX_LEN`]. It is an order-of-magnitude bound meant to catch
//!   configurations that need gigabytes, not an exact prediction of the allocator's peak.
//!
//! All arithmetic saturates, so absurd sizes give `u64::MAX` rather than overflowing.
use super::ModelConfig;
use crate::baseline::LinearConfig;
use crate::chimera::ChimeraConfig;
use crate::simba::SimbaConfig;
use crate::spacetime::SpaceTimeConfig;
use crate::spacetime::{Embedding, SsmKind};
use crate::ssm::ConvPath;

/// Bytes of one `f32`.
const F32: u64 = 4;
/// Copies of every parameter during training: weights, gradients, AdamW first and second moments.
const PARAM_COPIES: u64 = 4;
/// `[N, L, C]`-shaped tensors one encoder block keeps for backward (input, SSM output, skip sum,
/// MLP input and output, GELU, dropout mask, residual) and their gradients.
const BLOCK_ACTIVATIONS: u64 = 12;
/// `[N, L + H, C]`-shaped tensors of the decoder (open- and closed-loop outputs and next-input
/// predictions) and of the output head (GELU, dropout, linear input), with gradients.
const DECODER_ACTIVATIONS: u64 = 12;
/// `[N, L, C]`-shaped tensors one SiMBA block keeps for backward (two layer norms with their
/// inputs, both residual sums and dropout masks, the EinFFT spectrum, hidden layer and output in
/// real and imaginary parts before and after the nonlinearities, the inverse transform), with
/// gradients.
const SIMBA_WIDTH_ACTIVATIONS: u64 = 24;
/// `[N, L, E]`-shaped tensors of one Mamba block besides the convolution taps (`x` and `z`, the
/// convolution output and its SiLU, `Δ` before and after the softplus, the scan output, the gate
/// and the gated product), with gradients.
const MAMBA_INNER_ACTIVATIONS: u64 = 20;
/// `[N, L, E, d]`-shaped tensors of the chunked scan besides the intra-chunk weights (log decay,
/// decay, input term, chunk-local and fixed-up states), with gradients.
const SCAN_STATE_ACTIVATIONS: u64 = 10;
/// `[N, L, C]`-shaped tensors one Chimera block keeps besides its heads (two layer norms with
/// their inputs, the residual sums, dropout masks, the gated sum, the FFN's hidden layer counted
/// separately), with gradients.
const CHIMERA_WIDTH_ACTIVATIONS: u64 = 16;
/// `[N, L, E]`-shaped tensors of one 2-D SSM head besides its states (input, `Δ1`, `Δ2` before and
/// after the softplus, output, reversal copies), with gradients.
const CHIMERA_HEAD_ACTIVATIONS: u64 = 14;
/// `[N, L + H]`-shaped tensors of the baselines (input, output, target, loss terms, gradients).
const BASELINE_ACTIVATIONS: u64 = 8;

/// Size of a configured model and of one training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeEstimate {
    /// Trainable parameters (exact).
    pub params: u64,
    /// Estimated peak bytes of one training step (weights, optimiser state, activations).
    pub train_bytes: u64,
}

impl SizeEstimate {
    /// [`Self::train_bytes`] in MiB, rounded up.
    pub fn train_mib(&self) -> u64 {
        self.train_bytes.div_ceil(1 << 20)
    }
}

fn mul(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |acc, &f| acc.saturating_mul(f))
}

fn u(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl ModelConfig {
    /// Parameters and training memory of this model for batches of `batch_size` windows of
    /// `variates` variates (channel-independent families see `batch_size × variates` series).
    /// The configuration should be valid ([`Self::validate`]); the numbers of an invalid one
    /// mean nothing.
    pub fn estimate(&self, batch_size: usize, variates: usize) -> SizeEstimate {
        let series = mul(&[u(batch_size.max(1)), u(variates.max(1))]);
        let (params, activations) = match self {
            Self::SpaceTime(c) => spacetime(c, series),
            Self::Linear(c) => linear(c, series),
            Self::Simba(c) => simba(c, series),
            Self::Chimera(c) => chimera(c, series),
            Self::Repeat(c) => (
                0,
                mul(&[
                    BASELINE_ACTIVATIONS,
                    series,
                    u(c.lookback).saturating_add(u(c.horizon)),
                ]),
            ),
        };
        SizeEstimate {
            params,
            train_bytes: mul(&[F32, PARAM_COPIES, params]).saturating_add(mul(&[F32, activations])),
        }
    }
}

/// `(parameters, activation floats)` of the NLinear baseline: one `Linear(L → H)` with bias.
fn linear(c: &LinearConfig, series: u64) -> (u64, u64) {
    let (l, h) = (u(c.lookback), u(c.horizon));
    let params = mul(&[l, h]).saturating_add(h);
    (params, mul(&[BASELINE_ACTIVATIONS, series, l.saturating_add(h)]))
}

/// `(parameters, activation floats)` of SiMBA.
fn simba(c: &SimbaConfig, series: u64) -> (u64, u64) {
    let mamba = c.mamba();
    let width = u(c.d_model);
    let inner = mul(&[u(c.expand), width]);
    let (state, taps, rank) = (u(c.d_state), u(c.d_conv), u(mamba.rank()));
    let (l, h) = (u(c.lookback), u(c.horizon));
    let block_size = u(c.d_model / c.einfft_blocks.max(1));
    // Each layer norm has a gain and a bias.
    let norm = mul(&[2, width]);
    // in_proj C → 2E, conv taps and bias, x_proj E → R + 2d, dt_proj R → E with bias, A_log,
    // D, out_proj E → C.
    let mamba_params = [
        mul(&[width, 2, inner]),
        mul(&[inner, taps]),
        inner,
        mul(&[inner, rank.saturating_add(mul(&[2, state]))]),
        mul(&[rank, inner]),
        inner,
        mul(&[inner, state]),
        inner,
        mul(&[inner, width]),
    ]
    .iter()
    .fold(0u64, |acc, &p| acc.saturating_add(p));
    // Two complex layers: weights [n_b, b_s, b_s] and biases [n_b, b_s], real and imaginary.
    let einfft = mul(&[4, width, block_size]).saturating_add(mul(&[4, width]));
    let block = mul(&[2, norm])
        .saturating_add(mamba_params)
        .saturating_add(einfft);
    // Embedding Linear(1 → C) with bias, final norm, head Linear(K·C → H) with bias.
    let params = mul(&[2, width])
        .saturating_add(mul(&[u(c.n_blocks), block]))
        .saturating_add(norm)
        .saturating_add(mul(&[u(c.head_tokens), width, h]))
        .saturating_add(h);

    let tokens = mul(&[series, l]);
    let chunk = u(c.scan_chunk.min(c.lookback).max(1));
    let per_block = [
        mul(&[SIMBA_WIDTH_ACTIVATIONS, tokens, width]),
        // The convolution's shifted inputs and partial sums.
        mul(&[
            MAMBA_INNER_ACTIVATIONS.saturating_add(mul(&[2, taps])),
            tokens,
            inner,
        ]),
        // x_proj output (Δ_low, B, C).
        mul(&[2, tokens, rank.saturating_add(mul(&[2, state]))]),
        // The intra-chunk weights (differences, exponentials, mask products) and the states.
        mul(&[
            tokens,
            inner,
            state,
            mul(&[3, chunk]).saturating_add(SCAN_STATE_ACTIVATIONS),
        ]),
    ]
    .iter()
    .fold(0u64, |acc, &p| acc.saturating_add(p));
    // Embedding and final norm over all tokens; the head on the last K tokens (its input,
    // output and gradients) and the next-row convolution's padded input.
    let outer = mul(&[4, tokens, width])
        .saturating_add(mul(&[4, series, h]))
        .saturating_add(mul(&[3, series, u(c.head_tokens), width]))
        .saturating_add(mul(&[series, l.saturating_add(u(c.head_tokens)), width]));
    (params, mul(&[u(c.n_blocks), per_block]).saturating_add(outer))
}

/// `(parameters, activation floats)` of Chimera (`series` = windows × variates: every cell of the
/// grid is a token).
fn chimera(c: &ChimeraConfig, series: u64) -> (u64, u64) {
    let width = u(c.d_model);
    let (inner, state, rank) = (u(c.inner()), u(c.d_state), u(c.rank()));
    let hidden = mul(&[u(c.ffn_expand), width]);
    let (l, h) = (u(c.lookback), u(c.horizon));
    let heads: u64 = if c.bidirectional { 4 } else { 2 };
    let norm = mul(&[2, width]);
    // x_proj E → 2R + 4N, dt1/dt2 R → E with bias, A1..A4 [E, N], D.
    let head = [
        mul(&[inner, mul(&[2, rank]).saturating_add(mul(&[4, state]))]),
        mul(&[2, rank.saturating_add(1), inner]),
        mul(&[4, inner, state]),
        inner,
    ]
    .iter()
    .fold(0u64, |acc, &p| acc.saturating_add(p));
    // Two norms, in_proj C → 2E, heads, out_proj E → C, FFN C → F → C with biases.
    let block = [
        mul(&[2, norm]),
        mul(&[width, 2, inner]),
        mul(&[heads, head]),
        mul(&[inner, width]),
        mul(&[2, width, hidden])
            .saturating_add(hidden)
            .saturating_add(width),
    ]
    .iter()
    .fold(0u64, |acc, &p| acc.saturating_add(p));
    let params = mul(&[2, width])
        .saturating_add(mul(&[u(c.n_blocks), block]))
        .saturating_add(norm)
        .saturating_add(mul(&[u(c.head_tokens), width, h]))
        .saturating_add(h);
    let tokens = mul(&[series, l]);
    let chunk = u(c.scan_chunk.max(1));
    let per_head = [
        mul(&[CHIMERA_HEAD_ACTIVATIONS, tokens, inner]),
        mul(&[2, tokens, mul(&[2, rank]).saturating_add(mul(&[4, state]))]),
        // Both states, each with the intra-chunk weights and the fixed-up states.
        mul(&[
            2,
            tokens,
            inner,
            state,
            mul(&[3, chunk]).saturating_add(SCAN_STATE_ACTIVATIONS),
        ]),
    ]
    .iter()
    .fold(0u64, |acc, &p| acc.saturating_add(p));
    let per_block = mul(&[CHIMERA_WIDTH_ACTIVATIONS, tokens, width])
        .saturating_add(mul(&[4, tokens, inner]))
        .saturating_add(mul(&[4, tokens, hidden]))
        .saturating_add(mul(&[heads, per_head]));
    let outer = mul(&[4, tokens, width])
        .saturating_add(mul(&[4, series, h]))
        .saturating_add(mul(&[3, series, u(c.head_tokens), width]))
        .saturating_add(mul(&[series, l.saturating_add(u(c.head_tokens)), width]));
    (params, mul(&[u(c.n_blocks), per_block]).saturating_add(outer))
}

/// Floats of the convolution work buffers of one kernel bank over `len` steps.
fn conv_floats(path: ConvPath, channels: u64, series: u64, len: usize) -> u64 {
    match path.resolve(len) {
        // The Toeplitz matrices and their gradient.
        ConvPath::Toeplitz => mul(&[2, channels, u(len), u(len)]),
        // Complex spectra of input, kernel and product (2 floats each) over the padded length
        // (the next power of two of `2L`), with gradients.
        ConvPath::Fft | ConvPath::Auto => {
            let padded = u(len)
                .saturating_mul(2)
                .checked_next_power_of_two()
                .unwrap_or(u64::MAX);
            mul(&[12, channels, series, padded])
        }
    }
}

/// Learned `[n_kernels, d]` vectors of an SSM bank: `companion` of them for the companion
/// parameterisation, `shift` for the shift one (whose `a`, `b` are fixed).
fn bank(kind: SsmKind, companion: u64, shift: u64, kernels: usize, state: u64) -> u64 {
    let vectors = if kind == SsmKind::Companion {
        companion
    } else {
        shift
    };
    mul(&[vectors, u(kernels), state])
}

/// `(parameters, activation floats)` of SpaceTime.
fn spacetime(c: &SpaceTimeConfig, series: u64) -> (u64, u64) {
    let (width, state) = (u(c.d_model), u(c.state_dim));
    let (l, h) = (u(c.lookback), u(c.horizon));
    let blocks = u(c.n_encoder_blocks);
    // Embedding `Linear(1 → C)` with bias.
    let embedding = match c.embedding {
        Embedding::Linear => mul(&[2, width]),
        Embedding::Repeat => 0,
    };
    // Every encoder block: SSM `a, b, c` (only `c` for shift) and skip `D`, then the MLP
    // `Linear(C → C)` with bias. Block 1 uses the `first_` kernel bank.
    let block_common = width.saturating_add(mul(&[width, width])).saturating_add(width);
    let first_block = bank(c.encoder_ssm, 3, 1, c.first_n_kernels, state).saturating_add(block_common);
    let later_block = bank(c.encoder_ssm, 3, 1, c.n_kernels, state).saturating_add(block_common);
    // Decoder `a, b, c, k` (`c, k` for shift); head `Linear(C → 1)` with bias.
    let decoder = bank(c.decoder_ssm, 4, 2, c.n_kernels, state);
    let head = width.saturating_add(1);
    let params = embedding
        .saturating_add(first_block)
        .saturating_add(mul(&[blocks.saturating_sub(1), later_block]))
        .saturating_add(decoder)
        .saturating_add(head);

    let per_block = mul(&[BLOCK_ACTIVATIONS, series, l, width]).saturating_add(conv_floats(
        c.conv_path,
        width,
        series,
        c.lookback,
    ));
    let preprocess = if c.preprocess {
        mul(&[2, series, l, width]).saturating_add(conv_floats(c.conv_path, width, series, c.lookback))
    } else {
        0
    };
    let decoder_len = l.saturating_add(h);
    let decoding = mul(&[DECODER_ACTIVATIONS, series, decoder_len, width])
        // Open-loop kernels of `y` and `ẑ` over the look-back.
        .saturating_add(mul(&[2, conv_floats(c.conv_path, width, series, c.lookback)]))
        // Krylov rows and closed-loop state powers, `[C, d, L + H]` and `[C, d, d]`.
        .saturating_add(mul(&[4, width, state, decoder_len]))
        .saturating_add(mul(&[4, width, state, state]));
    let activations = mul(&[blocks, per_block])
        .saturating_add(preprocess)
        .saturating_add(decoding);
    (params, activations)
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::prelude::*;

    use super::*;
    use crate::baseline::RepeatConfig;

    fn built_params(cfg: &ModelConfig) -> u64 {
        cfg.validate().unwrap();
        u(cfg.init(&Device::flex()).unwrap().num_params())
    }

    #[test]
    fn parameter_counts_match_the_built_models() {
        let mut configs = vec![
            ModelConfig::Linear(LinearConfig::new(12, 5)),
            ModelConfig::Repeat(RepeatConfig::new(12, 5)),
            ModelConfig::SpaceTime(SpaceTimeConfig::statecast_default(24, 6)),
            ModelConfig::Simba(SimbaConfig::statecast_default(24, 6)),
            ModelConfig::Chimera(crate::chimera::ChimeraConfig::statecast_default(24, 6)),
            ModelConfig::Chimera(
                crate::chimera::ChimeraConfig::new(10, 3)
                    .with_d_model(7)
                    .with_expand(2)
                    .with_d_state(5)
                    .with_dt_rank(3)
                    .with_ffn_expand(3)
                    .with_n_blocks(3)
                    .with_bidirectional(false)
                    .with_head_tokens(4),
            ),
            ModelConfig::Simba(
                SimbaConfig::new(10, 3)
                    .with_d_model(15)
                    .with_einfft_blocks(5)
                    .with_n_blocks(3)
                    .with_d_state(7)
                    .with_d_conv(2)
                    .with_expand(3)
                    .with_dt_rank(4)
                    .with_head_tokens(6),
            ),
            ModelConfig::SpaceTime(SpaceTimeConfig::new(16, 4).with_d_model(128)),
            ModelConfig::SpaceTime(
                SpaceTimeConfig::new(16, 4)
                    .with_d_model(16)
                    .with_state_dim(8)
                    .with_first_n_kernels(4)
                    .with_first_n_heads(2)
                    .with_n_kernels(8)
                    .with_n_heads(2)
                    .with_n_encoder_blocks(3)
                    .with_embedding(Embedding::Linear)
                    .with_preprocess(false),
            ),
        ];
        for kind in [SsmKind::Shift, SsmKind::Companion] {
            configs.push(ModelConfig::SpaceTime(
                SpaceTimeConfig::statecast_default(20, 3)
                    .with_encoder_ssm(kind)
                    .with_decoder_ssm(SsmKind::Shift),
            ));
            configs.push(ModelConfig::SpaceTime(
                SpaceTimeConfig::statecast_default(20, 3)
                    .with_encoder_ssm(SsmKind::Shift)
                    .with_decoder_ssm(kind),
            ));
        }
        for cfg in &configs {
            assert_eq!(cfg.estimate(8, 2).params, built_params(cfg), "{cfg:?}");
        }
    }

    #[test]
    fn memory_grows_with_every_size_and_saturates() {
        let base = SpaceTimeConfig::statecast_default(96, 24);
        let at = |c: SpaceTimeConfig, b: usize, v: usize| ModelConfig::SpaceTime(c).estimate(b, v);
        let reference = at(base.clone(), 32, 7);
        // The statecast default on a 7-variate dataset: tens to hundreds of MiB.
        assert!((10..1024).contains(&reference.train_mib()), "{reference:?}");
        for bigger in [
            at(base.clone(), 64, 7),
            at(base.clone(), 32, 14),
            at(SpaceTimeConfig::statecast_default(192, 24), 32, 7),
            at(SpaceTimeConfig::statecast_default(96, 96), 32, 7),
            at(base.clone().with_d_model(128).with_n_kernels(128), 32, 7),
            at(base.clone().with_n_encoder_blocks(3), 32, 7),
        ] {
            assert!(bigger.train_bytes > reference.train_bytes, "{bigger:?}");
        }
        // The width that made a 16 GiB MLP weight: billions of parameters, not a wrapped number.
        let huge = at(base.clone().with_d_model(65_536).with_n_kernels(65_536), 32, 7);
        assert!(huge.params > 4_000_000_000, "{huge:?}");
        assert!(huge.train_mib() > 64 * 1024, "{huge:?}");
        let absurd = at(
            SpaceTimeConfig::statecast_default(usize::MAX, 24).with_d_model(usize::MAX),
            usize::MAX,
            7,
        );
        assert_eq!(absurd.train_bytes, u64::MAX);
        let simba = SimbaConfig::statecast_default(96, 24);
        let at = |c: SimbaConfig, b: usize, v: usize| ModelConfig::Simba(c).estimate(b, v);
        let reference = at(simba.clone(), 32, 7);
        assert!((10..4096).contains(&reference.train_mib()), "{reference:?}");
        for bigger in [
            at(simba.clone(), 64, 7),
            at(simba.clone(), 32, 14),
            at(SimbaConfig::statecast_default(192, 24), 32, 7),
            at(SimbaConfig::statecast_default(96, 96), 32, 7),
            at(simba.clone().with_d_model(128), 32, 7),
            at(simba.clone().with_d_state(32), 32, 7),
            at(simba.clone().with_scan_chunk(8), 32, 7),
            at(simba.clone().with_n_blocks(3), 32, 7),
        ] {
            assert!(bigger.train_bytes > reference.train_bytes, "{bigger:?}");
        }
        let absurd = at(
            SimbaConfig::statecast_default(usize::MAX, 24).with_d_model(1 << 40),
            32,
            7,
        );
        assert_eq!(absurd.train_bytes, u64::MAX);
        let linear = ModelConfig::Linear(LinearConfig::new(1 << 20, 1 << 20)).estimate(32, 1);
        assert!(linear.params > 1 << 39, "{linear:?}");
    }
}
