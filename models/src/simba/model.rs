//! The SiMBA forecaster: network and forward pass (`docs/simba.md` §4).
//!
//! ```text
//! x (B, L, V) ─fold─> (N = B·V, L) ─normalise (window statistics)─> u ─Linear(1 → C)─> (N, L, C)
//!   ─n SiMBA blocks (Mamba, EinFFT)─> ─LayerNorm─> z (N, L, C)
//!   ─head Linear(K·C → H) on the last K tokens z_{L−K..L−1}, flattened─> (N, H)
//!   ─denormalise─> ─unfold─> (B, H, V)
//! ```
//!
//! Tokens are time steps of one variate (channel-independent, as SpaceTime). Every layer is
//! causal, so token `t` sees rows `..=t` only, and the head applied to tokens `t−K+1 ..= t`
//! (zeros before the first token) forecasts rows `t + 1 ..= t + H`. The forecast uses the last
//! `K` tokens; the head's first entry at every token is the model's one-step prediction, which
//! serves as its reconstruction and as the stream's next-row prediction. The recurrent form
//! ([`super::step`]) keeps the last `K` head inputs (`K·C` floats a series), so its work per point
//! does not grow with the stream.
//!
//! Shape letters: `b` batch, `l` look-back, `h` horizon, `v` variates, `n` series (`b·v`),
//! `c` channels, `t` any time length.
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use super::block::SimbaBlock;
use super::mamba::MambaState;
use crate::spacetime::{NormStats, Normalization, fold_variates, unfold_variates};
use crate::token_head::{head_input, next_row_predictions};

/// The SiMBA forecaster (build it with [`super::SimbaConfig::init`]).
#[derive(Module, Debug)]
pub struct Simba {
    /// Token embedding `Linear(1 → C)`.
    pub embedding: Linear,
    /// The blocks.
    pub blocks: Vec<SimbaBlock>,
    /// Final layer norm.
    pub norm_out: LayerNorm,
    /// Head `Linear(K·C → H)` over the last `K` tokens, oldest first.
    pub head: Linear,
    /// Tokens the head reads, `K`.
    pub head_tokens: usize,
    /// Channels `C`.
    pub width: usize,
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
    /// Per-window normalisation.
    #[module(skip)]
    pub normalization: Normalization,
}

/// What a forward pass over whole windows returns.
#[derive(Debug, Clone)]
pub struct SimbaOutput {
    /// Forecast from the last token, original scale, `[B, H, V]`.
    pub forecast_bhv: Tensor<3>,
    /// Row `t` is the prediction of row `t + 1` made from rows `..=t`, original scale, `[B, L, V]`.
    pub next_pred_blv: Tensor<3>,
}

/// The encoder's output over whole windows and the states it ends in.
pub(crate) struct Encoded {
    /// Normalised-scale head input of every token, `[N, T, C]`.
    pub z_ntc: Tensor<3>,
    /// One Mamba state per block, after the last token.
    pub states: Vec<MambaState>,
}

impl Simba {
    /// Normalisation statistics of a look-back window, per series.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; fields `[B·V, 1]`
    pub fn norm_stats(&self, x_blv: Tensor<3>) -> NormStats {
        NormStats::from_lookback(fold_variates(x_blv), self.normalization)
    }

    /// Embedding, blocks and final norm over normalised series.
    ///
    /// # Shapes
    /// * `u_nt`: `[N, T]`
    pub(crate) fn encode(&self, u_nt: Tensor<2>) -> Encoded {
        let [n, t] = u_nt.dims();
        let mut z_ntc = self.embedding.forward(u_nt.reshape([n, t, 1]));
        let mut states = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (out, state) = block.forward_with_state(z_ntc);
            z_ntc = out;
            states.push(state);
        }
        Encoded {
            z_ntc: self.norm_out.forward(z_ntc),
            states,
        }
    }

    fn check_window(&self, x_blv: &Tensor<3>) -> [usize; 3] {
        let [b, l, v] = x_blv.dims();
        assert_eq!(
            l, self.lookback,
            "SiMBA: look-back {l} differs from the configured {}",
            self.lookback
        );
        [b, l, v]
    }

    /// The forecast from a look-back window (the head runs on the last `K` tokens only).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, H, V]`
    pub fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        let [b, _, v] = self.check_window(&x_blv);
        let stats = self.norm_stats(x_blv.clone());
        let z_ntc = self.encode(stats.normalize(fold_variates(x_blv))).z_ntc;
        unfold_variates(
            stats.denormalize(self.head.forward(head_input(z_ntc, self.head_tokens))),
            b,
            v,
        )
    }

    /// Forecast and every token's one-step prediction, with the states after the window
    /// (for [`super::step`]).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; see [`SimbaOutput`]
    pub(crate) fn forward_with_state(&self, x_blv: Tensor<3>) -> (SimbaOutput, NormStats, Encoded) {
        let [b, l, v] = self.check_window(&x_blv);
        let stats = self.norm_stats(x_blv.clone());
        let encoded = self.encode(stats.normalize(fold_variates(x_blv)));
        let forecast_nh = self
            .head
            .forward(head_input(encoded.z_ntc.clone(), self.head_tokens));
        let next_nl = next_row_predictions(&self.head, self.head_tokens, encoded.z_ntc.clone());
        debug_assert_eq!(next_nl.dims(), [b * v, l]);
        let out = SimbaOutput {
            forecast_bhv: unfold_variates(stats.denormalize(forecast_nh), b, v),
            next_pred_blv: unfold_variates(stats.denormalize(next_nl), b, v),
        };
        (out, stats, encoded)
    }

    /// [`Self::forward_with_state`] without the states.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; see [`SimbaOutput`]
    pub fn forward(&self, x_blv: Tensor<3>) -> SimbaOutput {
        self.forward_with_state(x_blv).0
    }

    /// Mean squared error of the forecast (the LTSF training objective).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, `y_bhv`: `[B, H, V]`; returns `[1]`
    pub fn mse(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        (self.forecast(x_blv) - y_bhv).square().mean()
    }
}
