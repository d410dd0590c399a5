//! Encoder blocks and the block MLP (spec `models.md` §2.6, §2.8).
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
use burn::tensor::activation::gelu;

use super::preprocess::{Preprocess, PreprocessConfig};
use super::ssm_layer::{CompanionSsm, CompanionSsmConfig};

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
        y.clone() + self.linear.forward(self.dropout.forward(gelu(y)))
    }
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
        let z_nlc = match &self.pre {
            Some(pre) => pre.forward(u_nlc),
            None => u_nlc,
        };
        self.mlp.forward(self.ssm.forward(z_nlc.clone())) + z_nlc
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
