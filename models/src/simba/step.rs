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
use crate::forecaster::BatchedState;
use crate::spacetime::{NormStats, StateTensor};
use crate::token_head::{HeadStream, roll_forecast};

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
    /// Normalisation, the head's last `K` inputs, the current forecast, points consumed.
    #[serde(flatten)]
    pub head: HeadStream,
    /// One entry per block.
    pub blocks: Vec<MambaStreamState>,
}

impl SimbaState {
    /// Bytes of the `f32` values held.
    pub fn value_bytes(&self) -> usize {
        let t = |v: &StateTensor| v.values.len() * std::mem::size_of::<f32>();
        self.head.value_bytes()
            + self
                .blocks
                .iter()
                .map(|b| t(&b.conv_nek) + t(&b.scan_ned))
                .sum::<usize>()
    }
}

impl BatchedState for SimbaState {
    crate::token_head::head_state_counters!();

    fn concat(parts: &[&Self]) -> Self {
        let first = parts.first().expect("SimbaState::concat: no parts");
        let blocks = (0..first.blocks.len())
            .map(|i| MambaStreamState {
                conv_nek: StateTensor::concat(
                    &parts.iter().map(|p| &p.blocks[i].conv_nek).collect::<Vec<_>>(),
                ),
                scan_ned: StateTensor::concat(
                    &parts.iter().map(|p| &p.blocks[i].scan_ned).collect::<Vec<_>>(),
                ),
            })
            .collect();
        Self {
            head: HeadStream::concat(&parts.iter().map(|p| &p.head).collect::<Vec<_>>()),
            blocks,
        }
    }

    fn split(&self, batches: &[usize]) -> Vec<Self> {
        let total = self.head.batch;
        let mut blocks: Vec<_> = self
            .blocks
            .iter()
            .map(|b| {
                (
                    b.conv_nek.split_batches(batches, total).into_iter(),
                    b.scan_ned.split_batches(batches, total).into_iter(),
                )
            })
            .collect();
        self.head
            .split(batches)
            .into_iter()
            .map(|head| Self {
                head,
                blocks: blocks
                    .iter_mut()
                    .map(|(conv, scan)| MambaStreamState {
                        conv_nek: conv.next().expect("one piece per batch"),
                        scan_ned: scan.next().expect("one piece per batch"),
                    })
                    .collect(),
            })
            .collect()
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
        let head = HeadStream::new(
            batch,
            variates,
            stats,
            [self.head_tokens, self.width, self.horizon],
        );
        let device = stats.shift_n1.device();
        SimbaState {
            head,
            blocks: self
                .blocks
                .iter()
                .map(|b| to_stream(b.mamba.zero_state(batch * variates, &device)))
                .collect(),
        }
    }

    /// Runs a whole look-back window (one batch forward pass) and returns the state after it,
    /// normalising with the window's own statistics, and every row's next-row prediction,
    /// `[B, L, V]`. Equals [`Self::init_state`] with those statistics followed by `L` steps.
    ///
    /// # Shapes
    /// * `context_blv`: `[B, L, V]`
    pub fn prime(&self, context_blv: Tensor<3>) -> (SimbaState, Tensor<3>) {
        let [b, _, v] = context_blv.dims();
        let (out, stats, encoded) = self.forward_with_state(context_blv);
        let mut state = self.init_state(b, v, &stats);
        state.blocks = encoded.states.into_iter().map(to_stream).collect();
        state.head.after_window(&self.head, encoded.z_ntc);
        (state, out.next_pred_blv)
    }

    /// Consumes one point per series; returns the prediction of the next point, `[B, V]`.
    ///
    /// # Shapes
    /// * `x_bv`: `[B, V]`, returns `[B, V]`
    pub fn step(&self, x_bv: Tensor<2>, state: &mut SimbaState) -> Tensor<2> {
        let device = x_bv.device();
        let mut z_nc = self.embedding.forward(state.head.normalize_row(x_bv));
        for (block, s) in self.blocks.iter().zip(state.blocks.iter_mut()) {
            let mamba = MambaState {
                conv_nek: s.conv_nek.to_tensor(&device),
                scan_ned: s.scan_ned.to_tensor(&device),
            };
            let (out, mamba) = block.step(z_nc, mamba);
            *s = to_stream(mamba);
            z_nc = out;
        }
        state.head.advance(&self.head, self.norm_out.forward(z_nc))
    }

    /// The next `steps` rows from the state, without advancing it, `[B, steps, V]`. Up to `H`
    /// steps this is the head's output after the last point (what [`Self::forecast`] gives for
    /// the window the state has consumed); beyond `H` the forecast is fed back point by point
    /// into a copy of the state and the head's next output continues it.
    pub fn forecast_from_state(&self, state: &SimbaState, steps: usize, device: &Device) -> Tensor<3> {
        roll_forecast(
            state,
            [self.horizon, steps],
            |s| &s.head,
            |x_bv, s| {
                self.step(x_bv, s);
            },
            device,
        )
    }
}
