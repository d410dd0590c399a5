//! [`ChimeraConfig`]: every size of the Chimera forecaster, statecast's defaults, and the
//! validation that keeps [`ChimeraConfig::init`] from ever seeing an inconsistent size.
use burn::nn::{DropoutConfig, LayerNormConfig, LinearConfig};
use burn::prelude::*;

use super::block::{ChimeraBlock, Ffn};
use super::model::Chimera;
use super::ssm2d::Ssm2dConfig;
use crate::error::{Error, Result};
use crate::spacetime::Normalization;

/// Chimera forecaster configuration (`docs/chimera.md` §2).
///
/// The weights are shared by every variate (the 2-D scan runs down the variates with the same
/// parameters at every cell), so the configuration does not depend on the number of variates,
/// and a model trained on `V` variates runs on any other count.
#[derive(Config, Debug)]
pub struct ChimeraConfig {
    /// Look-back length `L`.
    pub lookback: usize,
    /// Forecast horizon `H`.
    pub horizon: usize,
    /// Model width `C` (channels of every token). Default 32.
    #[config(default = 32)]
    pub d_model: usize,
    /// Chimera blocks. Default 2.
    #[config(default = 2)]
    pub n_blocks: usize,
    /// State size `N` of each axis (`h1` and `h2` each hold `N` per channel). Default 8.
    #[config(default = 8)]
    pub d_state: usize,
    /// Inner width factor of the SSM branch (`E = expand · C`). Default 1.
    #[config(default = 1)]
    pub expand: usize,
    /// Rank of the step-size projections; 0 means `⌈E / 16⌉`. Default 0.
    #[config(default = 0)]
    pub dt_rank: usize,
    /// Initial time steps `Δ1` of the trend head: log-uniform in `[min, max]`. Small steps keep a
    /// long memory along time (long-term progression). Default `[1e-3, 1e-2]`.
    #[config(default = "[1e-3, 1e-2]")]
    pub trend_dt: [f64; 2],
    /// Initial time steps `Δ1` of the seasonal head. Larger steps forget faster and follow
    /// shorter, repeating patterns. Default `[0.1, 1.0]`.
    #[config(default = "[0.1, 1.0]")]
    pub seasonal_dt: [f64; 2],
    /// Initial variate steps `Δ2` of both heads. Default `[1e-3, 0.1]` (Mamba's range).
    #[config(default = "[1e-3, 0.1]")]
    pub variate_dt: [f64; 2],
    /// Floor of every initial step size. Default 1e-4.
    #[config(default = 1e-4)]
    pub dt_init_floor: f64,
    /// Initial coupling `A2`, `A3` between the two states: uniform in `[−c, c]`. Default 0.1.
    #[config(default = 0.1)]
    pub coupling_init: f64,
    /// Run a second copy of each head over the variates in reverse order (the variates have no
    /// natural order). Default true.
    #[config(default = true)]
    pub bidirectional: bool,
    /// Hidden width factor of the feed-forward layer after the SSM branch. Default 2.
    #[config(default = 2)]
    pub ffn_expand: usize,
    /// Dropout on each residual branch. Default 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Layer-norm epsilon. Default 1e-5.
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    /// Per-window normalisation (RevIN-style, without a learned affine). Default standardize.
    #[config(default = "Normalization::Standardize")]
    pub normalization: Normalization,
    /// Chunk length of the 1-D linear scans inside the 2-D scan. Default 4.
    #[config(default = 4)]
    pub scan_chunk: usize,
    /// Tokens the head reads, `K` (`Linear(K·C → H)` over the last `K` tokens of each variate).
    /// Default 1 here; [`ChimeraConfig::statecast_default`] reads the whole look-back.
    #[config(default = 1)]
    pub head_tokens: usize,
}

impl ChimeraConfig {
    /// Chimera as statecast runs it by default for look-back `l` and horizon `h`: the
    /// defaults above with a head over the whole look-back (`K = L`, as SiMBA's).
    pub fn statecast_default(l: usize, h: usize) -> Self {
        Self::new(l, h).with_head_tokens(l)
    }

    /// Inner width `E`.
    pub fn inner(&self) -> usize {
        self.expand * self.d_model
    }

    /// Rank `R` of the step-size projections after resolving "auto".
    pub fn rank(&self) -> usize {
        if self.dt_rank == 0 {
            self.inner().div_ceil(16)
        } else {
            self.dt_rank
        }
    }

    /// The 2-D SSM of one head with time steps initialised in `time_dt`.
    pub fn ssm2d(&self, time_dt: [f64; 2]) -> Ssm2dConfig {
        Ssm2dConfig {
            channels: self.inner(),
            state: self.d_state,
            rank: self.rank(),
            time_dt,
            variate_dt: self.variate_dt,
            dt_init_floor: self.dt_init_floor,
            coupling_init: self.coupling_init,
            chunk: self.scan_chunk,
        }
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
            ("expand", self.expand),
            ("ffn_expand", self.ffn_expand),
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
        for (name, factor) in [("expand", self.expand), ("ffn_expand", self.ffn_expand)] {
            if self.d_model.checked_mul(factor).is_none() {
                return bad(
                    name,
                    format!("d_model {} × {name} {factor} overflows", self.d_model),
                );
            }
        }
        for (name, [lo, hi]) in [
            ("trend_dt", self.trend_dt),
            ("seasonal_dt", self.seasonal_dt),
            ("variate_dt", self.variate_dt),
        ] {
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
                return bad(name, format!("[{lo}, {hi}] is not a range 0 < min ≤ max"));
            }
        }
        Error::check_positive("dt_init_floor", self.dt_init_floor)?;
        Error::check_non_negative("coupling_init", self.coupling_init)?;
        Error::check_dropout(self.dropout)?;
        Error::check_positive("norm_eps", self.norm_eps)?;
        Ok(())
    }

    /// Builds the model on `device` (random weights).
    ///
    /// # Panics
    /// If the configuration is invalid ([`Self::validate`] says why without panicking).
    pub fn init(&self, device: &Device) -> Chimera {
        if let Err(e) = self.validate() {
            panic!("Chimera: invalid configuration: {e}");
        }
        let (c, e, eps) = (self.d_model, self.inner(), self.norm_eps);
        let norm = || LayerNormConfig::new(c).with_epsilon(eps).init(device);
        let heads = |time_dt: [f64; 2]| {
            let ssm = self.ssm2d(time_dt);
            let forward = ssm.init(device);
            let reverse = self.bidirectional.then(|| ssm.init(device));
            (forward, reverse)
        };
        let blocks = (0..self.n_blocks)
            .map(|_| {
                let (trend, trend_reverse) = heads(self.trend_dt);
                let (seasonal, seasonal_reverse) = heads(self.seasonal_dt);
                ChimeraBlock {
                    norm_mix: norm(),
                    in_proj: LinearConfig::new(c, 2 * e).with_bias(false).init(device),
                    trend,
                    trend_reverse,
                    seasonal,
                    seasonal_reverse,
                    out_proj: LinearConfig::new(e, c).with_bias(false).init(device),
                    norm_ffn: norm(),
                    ffn: Ffn {
                        up: LinearConfig::new(c, self.ffn_expand * c).init(device),
                        down: LinearConfig::new(self.ffn_expand * c, c).init(device),
                    },
                    dropout: DropoutConfig::new(self.dropout).init(),
                }
            })
            .collect();
        Chimera {
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
