//! Recurrent (streaming) form of SiMBA with an explicit, serialisable state
//! (`docs/simba.md` §4.3).
//!
//! ```text
//! x_t (B, V) ─fold─> (N) ─normalise with FIXED stats─> u_t ─Linear(1 → C)─> (N, C)
//!   block i: x ← x + Mamba.step(LN(x))   (conv ring buffer [N, E, k], scan state [N, E, d])
//!            x ← x + EinFFT(LN(x))
//!   ─LayerNorm─> z_t ─(last K of them: ring in the state)─head─> forecast of rows t+1 ..= t+H
//! ```
//!
//! Work per point is `O(blocks · E · (k + d) + K·C·H)`, independent of how many points came
//! before.
//!
//! **Normalisation.** The window statistics (mean, standard deviation) are not causal, so, as for
//! SpaceTime, the stream takes them once, when the state is made (from an anchor window), and
//! keeps them. With the statistics of the window being streamed, stepping through the window
//! reproduces [`Simba::forward`] exactly; the anomaly scorer renews states every `L` points so
//! that the statistics never grow stale.
//!
//! Shape letters: `b` batch, `v` variates, `n` series (`b·v`), `c` channels, `e` inner channels,
//! `k` convolution taps, `d` state size, `h` horizon.
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::mamba::MambaState;
use super::model::Simba;
use crate::spacetime::{NormStats, StateTensor};
use crate::token_head::{push_head_input, roll_forecast};

/// Streaming state of one block's Mamba layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MambaStreamState {
    /// The last `k` convolution inputs, oldest first, `[N, E, k]`.
    pub conv_nek: StateTensor,
    /// Scan state, `[N, E, d]`.
    pub scan_ned: StateTensor,
}

/// Complete streaming state of a [`Simba`] model for `batch × variates` series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimbaState {
    /// Batch size `B`.
    pub batch: usize,
    /// Variates `V` (series `n = b·V + v`).
    pub variates: usize,
    /// Fixed normalisation shift, `[N, 1]`.
    pub norm_shift_n1: StateTensor,
    /// Fixed normalisation scale, `[N, 1]`.
    pub norm_scale_n1: StateTensor,
    /// One entry per block.
    pub blocks: Vec<MambaStreamState>,
    /// The head's inputs of the last `K` points, oldest first (zeros before the first point),
    /// `[N, K, C]`.
    pub head_inputs_nkc: StateTensor,
    /// The head's output after the last point (normalised scale; zeros before the first point),
    /// `[N, H]`: the forecast of the next `H` rows.
    pub forecast_nh: StateTensor,
    /// Points consumed so far.
    pub steps: usize,
}

impl SimbaState {
    /// Bytes of the `f32` values held.
    pub fn value_bytes(&self) -> usize {
        let t = |v: &StateTensor| v.values.len() * std::mem::size_of::<f32>();
        t(&self.norm_shift_n1)
            + t(&self.norm_scale_n1)
            + t(&self.forecast_nh)
            + t(&self.head_inputs_nkc)
            + self
                .blocks
                .iter()
                .map(|b| t(&b.conv_nek) + t(&b.scan_ned))
                .sum::<usize>()
    }

    fn stats(&self, device: &Device) -> NormStats {
        NormStats {
            shift_n1: self.norm_shift_n1.to_tensor(device),
            scale_n1: self.norm_scale_n1.to_tensor(device),
        }
    }
}

fn to_stream(state: MambaState) -> MambaStreamState {
    MambaStreamState {
        conv_nek: StateTensor::from_tensor(state.conv_nek),
        scan_ned: StateTensor::from_tensor(state.scan_ned),
    }
}

impl Simba {
    /// A state that has consumed nothing, for `batch × variates` series with fixed statistics.
    ///
    /// # Shapes
    /// * `stats` fields: `[B·V, 1]`
    pub fn init_state(&self, batch: usize, variates: usize, stats: &NormStats) -> SimbaState {
        let n = batch * variates;
        assert_eq!(
            stats.shift_n1.dims(),
            [n, 1],
            "SiMBA init_state: statistics are not [B·V, 1]"
        );
        let device = stats.shift_n1.device();
        SimbaState {
            batch,
            variates,
            norm_shift_n1: StateTensor::from_tensor(stats.shift_n1.clone()),
            norm_scale_n1: StateTensor::from_tensor(stats.scale_n1.clone()),
            blocks: self
                .blocks
                .iter()
                .map(|b| to_stream(b.mamba.zero_state(n, &device)))
                .collect(),
            head_inputs_nkc: StateTensor::from_tensor(Tensor::<3>::zeros(
                [n, self.head_tokens, self.width],
                &device,
            )),
            forecast_nh: StateTensor::from_tensor(Tensor::<2>::zeros([n, self.horizon], &device)),
            steps: 0,
        }
    }

    /// Runs a whole look-back window (one batch forward pass) and returns the state after it,
    /// normalising with the window's own statistics, and every row's next-row prediction,
    /// `[B, L, V]`. Equals [`Self::init_state`] with those statistics followed by `L` steps.
    ///
    /// # Shapes
    /// * `context_blv`: `[B, L, V]`
    pub fn prime(&self, context_blv: Tensor<3>) -> (SimbaState, Tensor<3>) {
        let [b, l, v] = context_blv.dims();
        let (out, stats, encoded) = self.forward_with_state(context_blv);
        let k = self.head_tokens;
        let recent_nkc = encoded.z_ntc.narrow(1, l - k, k);
        let mut state = self.init_state(b, v, &stats);
        state.blocks = encoded.states.into_iter().map(to_stream).collect();
        state.forecast_nh = StateTensor::from_tensor(
            self.head
                .forward(recent_nkc.clone().reshape([b * v, k * self.width])),
        );
        state.head_inputs_nkc = StateTensor::from_tensor(recent_nkc);
        state.steps = l;
        (state, out.next_pred_blv)
    }

    /// Consumes one point per series; returns the prediction of the next point, `[B, V]`.
    ///
    /// # Shapes
    /// * `x_bv`: `[B, V]`, returns `[B, V]`
    pub fn step(&self, x_bv: Tensor<2>, state: &mut SimbaState) -> Tensor<2> {
        let [b, v] = x_bv.dims();
        assert_eq!(
            [b, v],
            [state.batch, state.variates],
            "SiMBA step: input does not match the state"
        );
        let device = x_bv.device();
        let n = b * v;
        let stats = state.stats(&device);
        let u_n1 = stats.normalize(x_bv.reshape([n, 1]));
        let mut z_nc = self.embedding.forward(u_n1);
        for (block, s) in self.blocks.iter().zip(state.blocks.iter_mut()) {
            let mamba = MambaState {
                conv_nek: s.conv_nek.to_tensor(&device),
                scan_ned: s.scan_ned.to_tensor(&device),
            };
            let (out, mamba) = block.step(z_nc, mamba);
            *s = to_stream(mamba);
            z_nc = out;
        }
        let z_nc = self.norm_out.forward(z_nc);
        let k = self.head_tokens;
        let recent_nkc = push_head_input(state.head_inputs_nkc.to_tensor::<3>(&device), z_nc);
        let forecast_nh = self.head.forward(recent_nkc.clone().reshape([n, k * self.width]));
        state.head_inputs_nkc = StateTensor::from_tensor(recent_nkc);
        state.forecast_nh = StateTensor::from_tensor(forecast_nh.clone());
        state.steps += 1;
        stats.denormalize(forecast_nh.narrow(1, 0, 1)).reshape([b, v])
    }

    /// The next `steps` rows from the state, without advancing it, `[B, steps, V]`. Up to `H`
    /// steps this is the head's output after the last point (what [`Self::forecast`] gives for
    /// the window the state has consumed); beyond `H` the forecast is fed back point by point
    /// into a copy of the state and the head's next output continues it.
    pub fn forecast_from_state(&self, state: &SimbaState, steps: usize, device: &Device) -> Tensor<3> {
        roll_forecast(
            state,
            &state.stats(device),
            [state.batch, state.variates, self.horizon, steps],
            |s| s.forecast_nh.to_tensor(device),
            |x_bv, s| {
                self.step(x_bv, s);
            },
            device,
        )
    }
}
