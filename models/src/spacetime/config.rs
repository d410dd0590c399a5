//! [`SpaceTimeConfig`]: every size of the model, with the reference defaults of the SpaceTime
//! paper's code, statecast's own defaults ([`SpaceTimeConfig::statecast_default`]) and the
//! validation that keeps [`SpaceTimeConfig::init`] from ever seeing an inconsistent size.
use burn::nn::LinearConfig;
use burn::prelude::*;

use super::block::EncoderBlockConfig;
use super::decoder::ClosedLoopSsmConfig;
use super::model::{OutputHead, SpaceTime};
use super::norm::Normalization;
use super::preprocess::PreprocessConfig;
use super::ssm_layer::{CompanionSsmConfig, SsmKind};
use crate::error::{Error, Result};
use crate::ssm::ConvPath;

/// Largest differencing order accepted (the kernel of order `q` has `q + 1` taps).
pub const MAX_DIFF_ORDER: usize = 32;
/// Largest moving-average window accepted.
pub const MAX_AVG_WINDOW: usize = 4096;

/// How the scalar input is lifted to `d_model` channels (`docs/spacetime.md` §2.8).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// Copy the scalar to every channel (reference default).
    Repeat,
    /// `Linear(1 → d_model)`.
    Linear,
}

/// SpaceTime configuration (Zhang et al., ICLR 2023; `docs/spacetime.md` §2).
///
/// Multivariate inputs are channel-independent (`docs/spacetime.md` §2.9): every variate is a separate
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
    /// Preprocessing in block 1 (differencing + MA residuals, docs/spacetime.md §2.4). Default true.
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
    /// Radius ρ of the projection of `a`. Default 0.999 (`docs/spacetime.md` §2.2).
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
    /// SpaceTime as statecast runs it by default for look-back `l` and horizon `h`: narrower than
    /// the reference (width 64, state 32, one encoder block, dropout 0.1), which trains several
    /// times faster on a CPU at a similar accuracy (BENCHMARKS.md §4).
    pub fn statecast_default(l: usize, h: usize) -> Self {
        Self::new(l, h)
            .with_d_model(64)
            .with_state_dim(32)
            .with_first_n_kernels(8)
            .with_first_n_heads(8)
            .with_n_kernels(64)
            .with_n_encoder_blocks(1)
            .with_dropout(0.1)
    }

    /// Checks every condition [`Self::init`] and the layers it builds assert, so that an invalid
    /// configuration is an error naming the setting, never a panic.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, reason: String| Err(Error::invalid(what, reason));
        if self.lookback < 2 {
            return bad(
                "lookback",
                format!("SpaceTime needs a look-back of at least 2, got {}", self.lookback),
            );
        }
        if self.horizon < 1 {
            return bad("horizon", "must be at least 1".into());
        }
        if self.d_model == 0 {
            return bad("d_model", "must be at least 1".into());
        }
        if self.state_dim == 0 {
            return bad("state_dim", "must be at least 1".into());
        }
        if self.n_encoder_blocks == 0 {
            return bad("n_encoder_blocks", "at least one encoder block is needed".into());
        }
        // Every layer maps its channels onto `n_kernels × n_heads` kernels (block 1 with the
        // `first_` pair, later blocks and the decoder with the other).
        for (kernels, heads, k_name, h_name) in [
            (
                self.first_n_kernels,
                self.first_n_heads,
                "first_n_kernels",
                "first_n_heads",
            ),
            (self.n_kernels, self.n_heads, "n_kernels", "n_heads"),
        ] {
            if kernels == 0 {
                return bad(k_name, "must be at least 1".into());
            }
            if heads == 0 {
                return bad(h_name, "must be at least 1".into());
            }
            let layout = kernels.checked_mul(heads);
            if layout.is_none_or(|n| !self.d_model.is_multiple_of(n)) {
                return bad(
                    k_name,
                    format!(
                        "d_model {} must be a multiple of {k_name} {kernels} × {h_name} {heads}",
                        self.d_model
                    ),
                );
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", format!("{} is not in [0, 1)", self.dropout));
        }
        if !(self.rho > 0.0 && self.rho <= 1.0) {
            return bad("rho", format!("{} is not in (0, 1]", self.rho));
        }
        if self.norm_order > 1 {
            return bad(
                "norm_order",
                format!("{} is not 0 (no projection) or 1 (L1)", self.norm_order),
            );
        }
        if self.preprocess {
            if self.diff_orders.is_empty() && self.n_ma_residual == 0 {
                return bad(
                    "diff_orders",
                    "preprocessing needs at least one differencing order or MA-residual kernel".into(),
                );
            }
            if let Some(q) = self.diff_orders.iter().find(|&&q| q > MAX_DIFF_ORDER) {
                return bad(
                    "diff_orders",
                    format!("order {q} is above the largest supported, {MAX_DIFF_ORDER}"),
                );
            }
            if self.n_ma_residual > 0 {
                if self.min_avg_window == 0 {
                    return bad("min_avg_window", "must be at least 1".into());
                }
                if self.min_avg_window >= self.max_avg_window {
                    return bad(
                        "min_avg_window",
                        format!(
                            "min_avg_window {} must be below max_avg_window {}",
                            self.min_avg_window, self.max_avg_window
                        ),
                    );
                }
                if self.max_avg_window > MAX_AVG_WINDOW {
                    return bad(
                        "max_avg_window",
                        format!(
                            "{} is above the largest supported, {MAX_AVG_WINDOW}",
                            self.max_avg_window
                        ),
                    );
                }
            }
        }
        Ok(())
    }

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
    /// On a configuration that [`Self::validate`] refuses (with its message).
    pub fn init(&self, device: &Device) -> SpaceTime {
        if let Err(e) = self.validate() {
            panic!("SpaceTimeConfig::init: {e}");
        }
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
