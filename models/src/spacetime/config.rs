//! [`SpaceTimeConfig`]: every size of the model, with the reference defaults (spec `models.md` §2.8,
//! §2.12).
use burn::nn::LinearConfig;
use burn::prelude::*;

use super::block::EncoderBlockConfig;
use super::decoder::ClosedLoopSsmConfig;
use super::model::{OutputHead, SpaceTime};
use super::norm::Normalization;
use super::preprocess::PreprocessConfig;
use super::ssm_layer::{CompanionSsmConfig, SsmKind};
use crate::ssm::ConvPath;

/// How the scalar input is lifted to `d_model` channels (spec §2.8).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// Copy the scalar to every channel (reference default).
    Repeat,
    /// `Linear(1 → d_model)`.
    Linear,
}

/// SpaceTime configuration (Zhang et al., ICLR 2023; spec §2).
///
/// Multivariate inputs are channel-independent (spec §2.9 proposal): every variate is a separate
/// series through the same weights.
#[derive(Config, Debug)]
pub struct SpaceTimeConfig {
    /// Look-back length `L` (paper `ℓ`). Reference default 336.
    pub lookback: usize,
    /// Forecast horizon `H`. Reference horizons 96/192/336/720.
    pub horizon: usize,
    /// Model width `C` (channels). Default 128.
    #[config(default = 128)]
    pub d_model: usize,
    /// Companion state size `d` (`kernel_dim`). Default 64.
    #[config(default = 64)]
    pub state_dim: usize,
    /// Encoder blocks (≥ 1), the closed-loop decoder comes on top. Default 2 (reference config
    /// default; the README's `--n_blocks 1` gives 1).
    #[config(default = 2)]
    pub n_encoder_blocks: usize,
    /// Kernels of encoder block 1's SSM. Default 16.
    #[config(default = 16)]
    pub first_n_kernels: usize,
    /// Channels sharing one kernel in block 1 ("heads"). Default 8.
    #[config(default = 8)]
    pub first_n_heads: usize,
    /// Kernels of later encoder blocks and of the decoder. Default 128 (one per channel).
    #[config(default = 128)]
    pub n_kernels: usize,
    /// Channels sharing one kernel in later blocks and the decoder. Default 1.
    #[config(default = 1)]
    pub n_heads: usize,
    /// Encoder SSM parameterisation. Default companion.
    #[config(default = "SsmKind::Companion")]
    pub encoder_ssm: SsmKind,
    /// Decoder SSM parameterisation. Default companion.
    #[config(default = "SsmKind::Companion")]
    pub decoder_ssm: SsmKind,
    /// Preprocessing in block 1 (differencing + MA residuals, §2.4). Default true.
    #[config(default = true)]
    pub preprocess: bool,
    /// Differencing orders `q`. Default `[0, 1, 2, 3]`.
    #[config(default = "vec![0, 1, 2, 3]")]
    pub diff_orders: Vec<usize>,
    /// MA-residual kernel types per cycle. Default 4.
    #[config(default = 4)]
    pub n_ma_residual: usize,
    /// Smallest MA window `m` (inclusive). Default 4.
    #[config(default = 4)]
    pub min_avg_window: usize,
    /// Largest MA window (exclusive). Default 64.
    #[config(default = 64)]
    pub max_avg_window: usize,
    /// Seed of the frozen MA-window draw. Default 0.
    #[config(default = 0)]
    pub preprocess_seed: u64,
    /// Dropout in the block MLPs and the output head. Default 0.25 (README flag; config 0.2).
    #[config(default = 0.25)]
    pub dropout: f64,
    /// 1: L1 stability projection (`norm_order=1`); 0: none. Default 1.
    #[config(default = 1)]
    pub norm_order: usize,
    /// Radius ρ of the projection of `a`. Default 0.999 (spec §2.2 proposal).
    #[config(default = 0.999)]
    pub rho: f64,
    /// Per-window normalisation. Default mean.
    #[config(default = "Normalization::Mean")]
    pub normalization: Normalization,
    /// Input embedding. Default repeat.
    #[config(default = "Embedding::Repeat")]
    pub embedding: Embedding,
    /// How the long convolutions (preprocessing, encoder SSMs, decoder open loop) are computed.
    /// Every path gives the same result up to float round-off; default [`ConvPath::Auto`]:
    /// Toeplitz matmul up to [`crate::ssm::TOEPLITZ_MAX_LEN`], FFT above.
    #[config(default = "ConvPath::Auto")]
    pub conv_path: ConvPath,
}

impl SpaceTimeConfig {
    /// Configuration of encoder block `i` (0-based).
    pub fn encoder_block(&self, i: usize) -> EncoderBlockConfig {
        let (n_kernels, n_heads) = if i == 0 {
            (self.first_n_kernels, self.first_n_heads)
        } else {
            (self.n_kernels, self.n_heads)
        };
        let ssm = CompanionSsmConfig::new(self.d_model)
            .with_state_dim(self.state_dim)
            .with_n_kernels(n_kernels)
            .with_n_heads(n_heads)
            .with_kind(self.encoder_ssm)
            .with_norm_order(self.norm_order)
            .with_rho(self.rho)
            .with_conv_path(self.conv_path);
        let preprocess = (i == 0 && self.preprocess).then(|| {
            PreprocessConfig::new(self.d_model)
                .with_diff_orders(self.diff_orders.clone())
                .with_n_ma_residual(self.n_ma_residual)
                .with_min_avg_window(self.min_avg_window)
                .with_max_avg_window(self.max_avg_window)
                .with_seed(self.preprocess_seed)
                .with_conv_path(self.conv_path)
        });
        EncoderBlockConfig::new(ssm)
            .with_preprocess(preprocess)
            .with_dropout(self.dropout)
    }

    /// Configuration of the closed-loop decoder.
    pub fn decoder(&self) -> ClosedLoopSsmConfig {
        ClosedLoopSsmConfig::new(self.d_model)
            .with_state_dim(self.state_dim)
            .with_n_kernels(self.n_kernels)
            .with_n_heads(self.n_heads)
            .with_kind(self.decoder_ssm)
            .with_norm_order(self.norm_order)
            .with_rho(self.rho)
            .with_conv_path(self.conv_path)
    }

    /// Builds the model.
    ///
    /// # Panics
    /// On inconsistent sizes (zero look-back/horizon/blocks, width not divisible by the kernel
    /// layout).
    pub fn init(&self, device: &Device) -> SpaceTime {
        assert!(
            self.lookback >= 2 && self.horizon >= 1,
            "SpaceTime needs lookback >= 2 and horizon >= 1"
        );
        assert!(
            self.n_encoder_blocks >= 1,
            "SpaceTime needs at least one encoder block"
        );
        assert!(
            self.state_dim >= 1 && self.d_model >= 1,
            "SpaceTime needs d_model, state_dim >= 1"
        );
        SpaceTime {
            embedding: match self.embedding {
                Embedding::Repeat => None,
                Embedding::Linear => Some(LinearConfig::new(1, self.d_model).init(device)),
            },
            encoder: (0..self.n_encoder_blocks)
                .map(|i| self.encoder_block(i).init(device))
                .collect(),
            decoder: self.decoder().init(device),
            head: OutputHead::new(self.d_model, self.dropout, device),
            width: self.d_model,
            lookback: self.lookback,
            horizon: self.horizon,
            state_dim: self.state_dim,
            normalization: self.normalization,
        }
    }
}
