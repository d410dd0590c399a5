//! [`SimbaConfig`]: every size of the SiMBA forecaster, statecast's defaults, and the validation
//! that keeps [`SimbaConfig::init`] from ever seeing an inconsistent size.
use burn::nn::{DropoutConfig, LayerNormConfig, LinearConfig};
use burn::prelude::*;

use super::block::SimbaBlock;
use super::einfft::EinFftConfig;
use super::mamba::MambaConfig;
use super::model::Simba;
use crate::error::{Error, Result};
use crate::spacetime::Normalization;

/// SiMBA forecaster configuration (`docs/simba.md` §4).
///
/// Tokens are time steps of one variate (channel-independent: every variate is a separate series
/// through the same weights, `docs/simba.md` §4.2), so the configuration does not depend on the
/// number of variates.
#[derive(Config, Debug)]
pub struct SimbaConfig {
    /// Look-back length `L`.
    pub lookback: usize,
    /// Forecast horizon `H`.
    pub horizon: usize,
    /// Model width `C`. Default 32 (chosen on validation data, `docs/simba.md` §5).
    #[config(default = 32)]
    pub d_model: usize,
    /// SiMBA blocks (Mamba then EinFFT, each pre-norm residual). Default 1.
    #[config(default = 1)]
    pub n_blocks: usize,
    /// Mamba state size `d`. Default 16 (Mamba's).
    #[config(default = 16)]
    pub d_state: usize,
    /// Mamba convolution taps. Default 4.
    #[config(default = 4)]
    pub d_conv: usize,
    /// Mamba inner width factor (`E = expand · C`). Default 2.
    #[config(default = 2)]
    pub expand: usize,
    /// Rank of Mamba's step-size projection; 0 means `⌈C / 16⌉`. Default 0.
    #[config(default = 0)]
    pub dt_rank: usize,
    /// Smallest initial step size. Default 1e-3.
    #[config(default = 1e-3)]
    pub dt_min: f64,
    /// Largest initial step size. Default 0.1.
    #[config(default = 0.1)]
    pub dt_max: f64,
    /// Floor of the initial step sizes. Default 1e-4.
    #[config(default = 1e-4)]
    pub dt_init_floor: f64,
    /// EinFFT blocks `n_b` (must divide `d_model`; any count, not only powers of two). Default 4.
    #[config(default = 4)]
    pub einfft_blocks: usize,
    /// EinFFT soft-shrink threshold `λ`. Default 0.01.
    #[config(default = 0.01)]
    pub einfft_shrink: f64,
    /// EinFFT initial weight scale. Default 0.02.
    #[config(default = 0.02)]
    pub einfft_init_scale: f64,
    /// Dropout on each residual branch. Default 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Layer-norm epsilon. Default 1e-6 (SiMBA's).
    #[config(default = 1e-6)]
    pub norm_eps: f64,
    /// Per-window normalisation (RevIN-style, without a learned affine). Default standardize.
    #[config(default = "Normalization::Standardize")]
    pub normalization: Normalization,
    /// Chunk length of the parallel selective scan. Default 4 (`docs/simba.md` §1.5).
    #[config(default = 4)]
    pub scan_chunk: usize,
    /// Tokens the head reads, `K` (the last `K` tokens, flattened: `Linear(K·C → H)`); `1` is a
    /// head on the last token alone, `lookback` a flatten head over the whole window. The
    /// recurrent form keeps the last `K` head inputs, so a point still costs `O(K·C·H)` work
    /// whatever came before. Default 1 here; [`SimbaConfig::statecast_default`] reads the whole
    /// look-back (`K = L`), which validation chose.
    #[config(default = 1)]
    pub head_tokens: usize,
}

impl SimbaConfig {
    /// SiMBA as statecast runs it by default for look-back `l` and horizon `h`
    /// (chosen on ETTh1 validation data, `docs/simba.md` §5).
    pub fn statecast_default(l: usize, h: usize) -> Self {
        Self::new(l, h).with_head_tokens(l)
    }

    /// The Mamba block of every layer.
    pub fn mamba(&self) -> MambaConfig {
        MambaConfig::new(self.d_model)
            .with_d_state(self.d_state)
            .with_d_conv(self.d_conv)
            .with_expand(self.expand)
            .with_dt_rank(self.dt_rank)
            .with_dt_min(self.dt_min)
            .with_dt_max(self.dt_max)
            .with_dt_init_floor(self.dt_init_floor)
            .with_chunk(self.scan_chunk)
    }

    /// The EinFFT layer of every block.
    pub fn einfft(&self) -> EinFftConfig {
        EinFftConfig::new(self.d_model)
            .with_n_blocks(self.einfft_blocks)
            .with_shrink(self.einfft_shrink)
            .with_init_scale(self.einfft_init_scale)
    }

    /// Checks every condition [`Self::init`] and the layers it builds assert, so that an invalid
    /// configuration is an error naming the setting, never a panic.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, reason: String| Err(Error::invalid(what, reason));
        let positive = [
            ("lookback", self.lookback),
            ("horizon", self.horizon),
            ("d_model", self.d_model),
            ("n_blocks", self.n_blocks),
            ("d_state", self.d_state),
            ("d_conv", self.d_conv),
            ("expand", self.expand),
            ("einfft_blocks", self.einfft_blocks),
            ("scan_chunk", self.scan_chunk),
            ("head_tokens", self.head_tokens),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return bad(name, "must be at least 1".into());
        }
        if self.head_tokens > self.lookback {
            return bad(
                "head_tokens",
                format!(
                    "{} is more than the look-back {}",
                    self.head_tokens, self.lookback
                ),
            );
        }
        if self.d_model.checked_mul(self.expand).is_none() {
            return bad(
                "expand",
                format!("d_model {} × expand {} overflows", self.d_model, self.expand),
            );
        }
        if !self.d_model.is_multiple_of(self.einfft_blocks) {
            return bad(
                "einfft_blocks",
                format!(
                    "d_model {} must be a multiple of einfft_blocks {}",
                    self.d_model, self.einfft_blocks
                ),
            );
        }
        Error::check_positive("dt_min", self.dt_min)?;
        if !(self.dt_max.is_finite() && self.dt_max >= self.dt_min) {
            return bad(
                "dt_max",
                format!("{} is not a number at least dt_min {}", self.dt_max, self.dt_min),
            );
        }
        Error::check_positive("dt_init_floor", self.dt_init_floor)?;
        Error::check_non_negative("einfft_shrink", self.einfft_shrink)?;
        Error::check_non_negative("einfft_init_scale", self.einfft_init_scale)?;
        Error::check_dropout(self.dropout)?;
        Error::check_positive("norm_eps", self.norm_eps)?;
        Ok(())
    }

    /// Builds the model on `device` (random weights).
    ///
    /// # Panics
    /// If the configuration is invalid ([`Self::validate`] says why without panicking).
    pub fn init(&self, device: &Device) -> Simba {
        if let Err(e) = self.validate() {
            panic!("SiMBA: invalid configuration: {e}");
        }
        let (c, eps) = (self.d_model, self.norm_eps);
        let norm = || LayerNormConfig::new(c).with_epsilon(eps).init(device);
        let blocks = (0..self.n_blocks)
            .map(|_| SimbaBlock {
                norm_mix: norm(),
                mamba: self.mamba().init(device),
                norm_channel: norm(),
                einfft: self.einfft().init(device),
                dropout: DropoutConfig::new(self.dropout).init(),
            })
            .collect();
        Simba {
            embedding: LinearConfig::new(1, c).init(device),
            blocks,
            norm_out: norm(),
            head: LinearConfig::new(c * self.head_tokens, self.horizon).init(device),
            head_tokens: self.head_tokens,
            width: c,
            lookback: self.lookback,
            horizon: self.horizon,
            normalization: self.normalization,
        }
    }
}
