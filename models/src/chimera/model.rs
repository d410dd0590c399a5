//! The Chimera forecaster: network and forward pass (`docs/chimera.md` §2.3).
//!
//! ```text
//! x (B, L, V) ─normalise each variate (window statistics)─> u (B, V, L) ─Linear(1 → C)─> (B, V, L, C)
//!   ─n Chimera blocks (2-D SSM heads over variates × time, FFN)─> ─LayerNorm─> z (B, V, L, C)
//!   ─head Linear(K·C → H) on each variate's last K tokens─> (B·V, H) ─denormalise─> (B, H, V)
//! ```
//!
//! A token is one cell of the (variate × time) grid. Unlike SiMBA, the variates are not separate
//! series: the blocks mix them through the variate state `h2` of the 2-D scan, in both orders.
//! Along time every layer is causal, so the token at `(v, t)` has seen rows `..=t` of every
//! variate, and the shared token head ([`crate::token_head`]) gives the forecast from the last
//! `K` tokens and a one-step prediction at every row (the reconstruction the anomaly scorer uses
//! and the stream's next-row prediction).
//!
//! Shape letters: `b` batch, `l` look-back, `h` horizon, `v` variates, `n` series (`b·v`),
//! `c` channels, `t` any time length.
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use super::block::ChimeraBlock;
use crate::scan2d::ColumnState;
use crate::spacetime::{NormStats, Normalization, fold_variates, unfold_variates};
use crate::token_head::{head_input, next_row_predictions};

/// The Chimera forecaster (build it with [`super::ChimeraConfig::init`]).
#[derive(Module, Debug)]
pub struct Chimera {
    /// Token embedding `Linear(1 → C)`.
    pub embedding: Linear,
    /// The blocks.
    pub blocks: Vec<ChimeraBlock>,
    /// Final layer norm.
    pub norm_out: LayerNorm,
    /// Head `Linear(K·C → H)` over the last `K` tokens of a variate, oldest first.
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
pub struct ChimeraOutput {
    /// Forecast from the last time step, original scale, `[B, H, V]`.
    pub forecast_bhv: Tensor<3>,
    /// Row `t` is the prediction of row `t + 1` made from rows `..=t`, original scale, `[B, L, V]`.
    pub next_pred_blv: Tensor<3>,
}

/// The encoder's output over whole windows and the states it ends in.
pub(crate) struct Encoded {
    /// Head input of every token, variates folded into the batch, `[N, T, C]`.
    pub z_ntc: Tensor<3>,
    /// Per block, every head's states of the last time column.
    pub states: Vec<Vec<ColumnState>>,
}

impl Chimera {
    /// Normalisation statistics of a look-back window, per variate.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; fields `[B·V, 1]`
    pub fn norm_stats(&self, x_blv: Tensor<3>) -> NormStats {
        NormStats::from_lookback(fold_variates(x_blv), self.normalization)
    }

    /// Embedding, blocks and final norm over normalised series.
    ///
    /// # Shapes
    /// * `u_nt`: `[B·V, T]` (series `n = b·V + v`)
    pub(crate) fn encode(&self, u_nt: Tensor<2>, batch: usize, variates: usize) -> Encoded {
        let [n, t] = u_nt.dims();
        let mut z = self.embedding.forward(u_nt.reshape([batch, variates, t, 1]));
        let mut states = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (out, state) = block.forward_with_state(z);
            z = out;
            states.push(state);
        }
        Encoded {
            z_ntc: self.norm_out.forward(z).reshape([n, t, self.width]),
            states,
        }
    }

    fn check_window(&self, x_blv: &Tensor<3>) -> [usize; 3] {
        let [b, l, v] = x_blv.dims();
        assert_eq!(
            l, self.lookback,
            "Chimera: look-back {l} differs from the configured {}",
            self.lookback
        );
        [b, l, v]
    }

    /// The forecast from a look-back window.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, H, V]`
    pub fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        let [b, _, v] = self.check_window(&x_blv);
        let stats = self.norm_stats(x_blv.clone());
        let z_ntc = self.encode(stats.normalize(fold_variates(x_blv)), b, v).z_ntc;
        let forecast_nh = self.head.forward(head_input(z_ntc, self.head_tokens));
        unfold_variates(stats.denormalize(forecast_nh), b, v)
    }

    /// Forecast and every row's one-step prediction, with the states after the window
    /// (for [`super::step`]).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; see [`ChimeraOutput`]
    pub(crate) fn forward_with_state(&self, x_blv: Tensor<3>) -> (ChimeraOutput, NormStats, Encoded) {
        let [b, _, v] = self.check_window(&x_blv);
        let stats = self.norm_stats(x_blv.clone());
        let encoded = self.encode(stats.normalize(fold_variates(x_blv)), b, v);
        let forecast_nh = self
            .head
            .forward(head_input(encoded.z_ntc.clone(), self.head_tokens));
        let next_nl = next_row_predictions(&self.head, self.head_tokens, encoded.z_ntc.clone());
        let out = ChimeraOutput {
            forecast_bhv: unfold_variates(stats.denormalize(forecast_nh), b, v),
            next_pred_blv: unfold_variates(stats.denormalize(next_nl), b, v),
        };
        (out, stats, encoded)
    }

    /// [`Self::forward_with_state`] without the states.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; see [`ChimeraOutput`]
    pub fn forward(&self, x_blv: Tensor<3>) -> ChimeraOutput {
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
