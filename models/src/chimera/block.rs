//! One Chimera block (`docs/chimera.md` §2.2): two input-dependent 2-D SSM heads (trend and
//! seasonal, different time discretisations), each run over the variates in both orders, summed,
//! gated, projected back, then a feed-forward layer; both halves pre-norm residual.
//!
//! ```text
//! u, z = split(in_proj(LN(x)))                                  (C → 2E)
//! s    = Trend(SiLU u) + Trend_rev(SiLU u) + Seas(SiLU u) + Seas_rev(SiLU u)
//! x   ← x + Dropout(out_proj(s ⊙ SiLU z))                       (E → C)
//! x   ← x + Dropout(FFN(LN(x)))                                 (C → F → C, GELU)
//! ```
//!
//! `_rev` heads run on the grid with the variate axis reversed and their output is reversed back,
//! so every variate sees all the others at the same time step. Along time every head is causal,
//! so the block is causal in time and has an exact one-column form ([`ChimeraBlock::step`]).
//!
//! Shape letters: `b` batch, `v` variates, `t` time, `c` channels, `e` inner channels.
use burn::nn::{Dropout, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, silu};

use super::ssm2d::Ssm2d;
use crate::scan2d::ColumnState;
use crate::spacetime::block::dropout;

/// The feed-forward layer `Linear(C → F)`, GELU, `Linear(F → C)`.
#[derive(Module, Debug)]
pub struct Ffn {
    /// `C → F` with bias.
    pub up: Linear,
    /// `F → C` with bias.
    pub down: Linear,
}

impl Ffn {
    /// Per token, any leading shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.down.forward(gelu(self.up.forward(x)))
    }
}

/// A Chimera block (built by [`super::ChimeraConfig::init`]).
#[derive(Module, Debug)]
pub struct ChimeraBlock {
    /// Layer norm before the SSM branch.
    pub norm_mix: LayerNorm,
    /// `C → 2E`, no bias: the SSM input `u` (first `E`) and the gate `z` (last `E`).
    pub in_proj: Linear,
    /// Trend head (small initial time steps), variates in order.
    pub trend: Ssm2d,
    /// Trend head over the variates in reverse order (when bidirectional).
    pub trend_reverse: Option<Ssm2d>,
    /// Seasonal head (large initial time steps), variates in order.
    pub seasonal: Ssm2d,
    /// Seasonal head over the variates in reverse order (when bidirectional).
    pub seasonal_reverse: Option<Ssm2d>,
    /// `E → C`, no bias.
    pub out_proj: Linear,
    /// Layer norm before the feed-forward layer.
    pub norm_ffn: LayerNorm,
    /// Feed-forward layer.
    pub ffn: Ffn,
    /// Dropout on both residual branches.
    pub dropout: Dropout,
}

/// Reverses the variate axis (dim 1) when `reversed`.
fn orient<const D: usize>(t: Tensor<D>, reversed: bool) -> Tensor<D> {
    if reversed { t.flip([1]) } else { t }
}

impl ChimeraBlock {
    /// The heads in a fixed order (the order of their states), each with whether it runs over
    /// the variates reversed.
    pub fn heads(&self) -> Vec<(&Ssm2d, bool)> {
        let mut heads = vec![(&self.trend, false)];
        heads.extend(self.trend_reverse.as_ref().map(|h| (h, true)));
        heads.push((&self.seasonal, false));
        heads.extend(self.seasonal_reverse.as_ref().map(|h| (h, true)));
        heads
    }

    /// Zero column states of every head.
    pub fn zero_state(&self, batch: usize, variates: usize, device: &Device) -> Vec<ColumnState> {
        self.heads()
            .into_iter()
            .map(|(h, _)| h.zero_state(batch, variates, device))
            .collect()
    }

    /// `SiLU(u)` and `z` of `x` (any leading shape; last dim `C`).
    fn branches<const D: usize>(&self, x: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
        let xz = self.in_proj.forward(self.norm_mix.forward(x));
        let e = xz.dims()[D - 1] / 2;
        (silu(xz.clone().narrow(D - 1, 0, e)), xz.narrow(D - 1, e, e))
    }

    /// The residual updates around the summed head outputs `s` (any leading shape).
    fn finish<const D: usize>(&self, x: Tensor<D>, s: Tensor<D>, z: Tensor<D>) -> Tensor<D> {
        let x = x + dropout(&self.dropout, self.out_proj.forward(s * silu(z)));
        let mixed = self.ffn.forward(self.norm_ffn.forward(x.clone()));
        x + dropout(&self.dropout, mixed)
    }

    /// Whole grids from zero states; also returns every head's last time column.
    ///
    /// # Shapes
    /// * `x_bvtc`: `[B, V, T, C]`, returns `[B, V, T, C]`
    pub fn forward_with_state(&self, x_bvtc: Tensor<4>) -> (Tensor<4>, Vec<ColumnState>) {
        let (u, z) = self.branches(x_bvtc.clone());
        let mut sum: Option<Tensor<4>> = None;
        let mut states = Vec::new();
        for (head, reversed) in self.heads() {
            let out = head.forward(orient(u.clone(), reversed));
            let y = orient(out.y, reversed);
            sum = Some(match sum {
                Some(s) => s + y,
                None => y,
            });
            states.push(out.last_column);
        }
        let s = sum.expect("a block has at least two heads");
        (self.finish(x_bvtc, s, z), states)
    }

    /// One time column (equals [`Self::forward_with_state`] at the same time step).
    ///
    /// # Shapes
    /// * `x_bvc`: `[B, V, C]`, returns `[B, V, C]`; `states`: one per head, `[B, V, E, N]` each
    pub fn step(&self, x_bvc: Tensor<3>, states: Vec<ColumnState>) -> (Tensor<3>, Vec<ColumnState>) {
        let (u, z) = self.branches(x_bvc.clone());
        let heads = self.heads();
        assert_eq!(states.len(), heads.len(), "Chimera step: one state per head");
        let mut sum: Option<Tensor<3>> = None;
        let mut next = Vec::with_capacity(states.len());
        for ((head, reversed), state) in heads.into_iter().zip(states) {
            let (y, state) = head.step(orient(u.clone(), reversed), state);
            let y = orient(y, reversed);
            sum = Some(match sum {
                Some(s) => s + y,
                None => y,
            });
            next.push(state);
        }
        let s = sum.expect("a block has at least two heads");
        (self.finish(x_bvc, s, z), next)
    }
}
