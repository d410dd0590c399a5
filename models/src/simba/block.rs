//! One SiMBA block (`docs/simba.md` §4.1): pre-norm residual sequence mixing (Mamba) then
//! pre-norm residual channel mixing (EinFFT).
//!
//! ```text
//! x ← x + Dropout(Mamba(LN(x)))
//! x ← x + Dropout(EinFFT(LN(x)))
//! ```
//!
//! Layer norm and EinFFT act on each token alone and Mamba is causal, so the block is causal and
//! has an exact one-step form ([`SimbaBlock::step`]). (SiMBA's vision recipe uses stochastic depth
//! on the branches; a forecaster this small uses plain dropout.)
//!
//! Shape letters: `n` series, `t` time, `c` channels.
use burn::nn::{Dropout, LayerNorm};
use burn::prelude::*;

use super::einfft::EinFft;
use super::mamba::{Mamba, MambaState};
use crate::spacetime::block::dropout;

/// A SiMBA block (built by [`super::SimbaConfig::init`]).
#[derive(Module, Debug)]
pub struct SimbaBlock {
    /// Layer norm before the Mamba branch.
    pub norm_mix: LayerNorm,
    /// Sequence mixing along time.
    pub mamba: Mamba,
    /// Layer norm before the EinFFT branch.
    pub norm_channel: LayerNorm,
    /// Channel mixing within each token.
    pub einfft: EinFft,
    /// Dropout on both residual branches.
    pub dropout: Dropout,
}

impl SimbaBlock {
    /// The channel-mixing half, point-wise in time (shared by both forms).
    fn channel_mix<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mixed = self.einfft.forward(self.norm_channel.forward(x.clone()));
        x + dropout(&self.dropout, mixed)
    }

    /// Whole sequences from a zero state; also returns the Mamba state after the last step.
    ///
    /// # Shapes
    /// * `x_ntc`: `[N, T, C]`, returns `[N, T, C]`
    pub fn forward_with_state(&self, x_ntc: Tensor<3>) -> (Tensor<3>, MambaState) {
        let (mixed, state) = self
            .mamba
            .forward_with_state(self.norm_mix.forward(x_ntc.clone()));
        let x_ntc = x_ntc + dropout(&self.dropout, mixed);
        (self.channel_mix(x_ntc), state)
    }

    /// One time step (equals [`Self::forward_with_state`] at the same step).
    ///
    /// # Shapes
    /// * `x_nc`: `[N, C]`, returns `[N, C]`
    pub fn step(&self, x_nc: Tensor<2>, state: MambaState) -> (Tensor<2>, MambaState) {
        let (mixed, state) = self.mamba.step(self.norm_mix.forward(x_nc.clone()), state);
        let x_nc = x_nc + dropout(&self.dropout, mixed);
        (self.channel_mix(x_nc), state)
    }
}
