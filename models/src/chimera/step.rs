//! Recurrent (streaming) form of Chimera with an explicit, serialisable state
//! (`docs/chimera.md` §2.4).
//!
//! The 2-D scan is recurrent along time: a time column (every variate at one step) depends on
//! the previous column through `h1` and `h2` only, and inside the column the variate state is a
//! short scan down the variates (`crate::scan2d::scan2d_step`). So the stream consumes one row
//! (all variates) per point:
//!
//! ```text
//! x_t (B, V) ─normalise with FIXED stats─> ─Linear(1 → C)─> (B, V, C)
//!   block i: every head steps one column (forward and reversed variate order), gate, FFN
//!   ─LayerNorm─> z_t ─(last K of them: ring in the state)─head─> forecast of rows t+1 ..= t+H
//! ```
//!
//! Work per point is `O(blocks · heads · V · E · N · Q + V·K·C·H)`, independent of how many points
//! came before; the state holds two `[B, V, E, N]` tensors per head and block.
//!
//! **Normalisation.** As for SpaceTime and SiMBA, the window statistics are taken once, when the
//! state is made (from an anchor window), and kept; with the statistics of the window being
//! streamed, stepping through it reproduces [`Chimera::forward`] exactly.
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::Chimera;
use crate::scan2d::ColumnState;
use crate::spacetime::{NormStats, StateTensor};
use crate::token_head::{push_head_input, roll_forecast};

/// One head's states of the last time column, as host data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStreamState {
    /// Time-axis state, `[B, V, E, N]` (variates in the head's own order).
    pub h1_bven: StateTensor,
    /// Variate-axis state, `[B, V, E, N]`.
    pub h2_bven: StateTensor,
}

impl ColumnStreamState {
    fn from_column(c: ColumnState) -> Self {
        Self {
            h1_bven: StateTensor::from_tensor(c.h1),
            h2_bven: StateTensor::from_tensor(c.h2),
        }
    }

    fn to_column(&self, device: &Device) -> ColumnState {
        ColumnState {
            h1: self.h1_bven.to_tensor(device),
            h2: self.h2_bven.to_tensor(device),
        }
    }
}

/// Complete streaming state of a [`Chimera`] model for `batch × variates` series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChimeraState {
    /// Batch size `B`.
    pub batch: usize,
    /// Variates `V` (series `n = b·V + v`).
    pub variates: usize,
    /// Fixed normalisation shift, `[N, 1]`.
    pub norm_shift_n1: StateTensor,
    /// Fixed normalisation scale, `[N, 1]`.
    pub norm_scale_n1: StateTensor,
    /// Per block, one entry per head (in [`super::ChimeraBlock::heads`] order).
    pub blocks: Vec<Vec<ColumnStreamState>>,
    /// The head's inputs of the last `K` points, oldest first (zeros before the first point),
    /// `[N, K, C]`.
    pub head_inputs_nkc: StateTensor,
    /// The head's output after the last point (normalised scale; zeros before the first point),
    /// `[N, H]`: the forecast of the next `H` rows.
    pub forecast_nh: StateTensor,
    /// Points consumed so far.
    pub steps: usize,
}

impl ChimeraState {
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
                .flatten()
                .map(|c| t(&c.h1_bven) + t(&c.h2_bven))
                .sum::<usize>()
    }

    fn stats(&self, device: &Device) -> NormStats {
        NormStats {
            shift_n1: self.norm_shift_n1.to_tensor(device),
            scale_n1: self.norm_scale_n1.to_tensor(device),
        }
    }
}

fn to_stream(states: Vec<ColumnState>) -> Vec<ColumnStreamState> {
    states.into_iter().map(ColumnStreamState::from_column).collect()
}

impl Chimera {
    /// A state that has consumed nothing, for `batch × variates` series with fixed statistics.
    ///
    /// # Shapes
    /// * `stats` fields: `[B·V, 1]`
    pub fn init_state(&self, batch: usize, variates: usize, stats: &NormStats) -> ChimeraState {
        let n = batch * variates;
        assert_eq!(
            stats.shift_n1.dims(),
            [n, 1],
            "Chimera init_state: statistics are not [B·V, 1]"
        );
        let device = stats.shift_n1.device();
        ChimeraState {
            batch,
            variates,
            norm_shift_n1: StateTensor::from_tensor(stats.shift_n1.clone()),
            norm_scale_n1: StateTensor::from_tensor(stats.scale_n1.clone()),
            blocks: self
                .blocks
                .iter()
                .map(|b| to_stream(b.zero_state(batch, variates, &device)))
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
    pub fn prime(&self, context_blv: Tensor<3>) -> (ChimeraState, Tensor<3>) {
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

    /// Consumes one row (every variate) per batch element; returns the prediction of the next
    /// row, `[B, V]`.
    ///
    /// # Shapes
    /// * `x_bv`: `[B, V]`, returns `[B, V]`
    pub fn step(&self, x_bv: Tensor<2>, state: &mut ChimeraState) -> Tensor<2> {
        let [b, v] = x_bv.dims();
        assert_eq!(
            [b, v],
            [state.batch, state.variates],
            "Chimera step: input does not match the state"
        );
        let device = x_bv.device();
        let n = b * v;
        let stats = state.stats(&device);
        let u_n1 = stats.normalize(x_bv.reshape([n, 1]));
        let mut z_bvc = self.embedding.forward(u_n1.reshape([b, v, 1]));
        for (block, s) in self.blocks.iter().zip(state.blocks.iter_mut()) {
            let columns = s.iter().map(|c| c.to_column(&device)).collect();
            let (out, columns) = block.step(z_bvc, columns);
            *s = to_stream(columns);
            z_bvc = out;
        }
        let z_nc = self.norm_out.forward(z_bvc).reshape([n, self.width]);
        let k = self.head_tokens;
        let recent_nkc = push_head_input(state.head_inputs_nkc.to_tensor::<3>(&device), z_nc);
        let forecast_nh = self.head.forward(recent_nkc.clone().reshape([n, k * self.width]));
        state.head_inputs_nkc = StateTensor::from_tensor(recent_nkc);
        state.forecast_nh = StateTensor::from_tensor(forecast_nh.clone());
        state.steps += 1;
        stats.denormalize(forecast_nh.narrow(1, 0, 1)).reshape([b, v])
    }

    /// The next `steps` rows from the state, without advancing it, `[B, steps, V]`: the head's
    /// output after the last point up to `H` steps, then the forecast fed back point by point.
    pub fn forecast_from_state(&self, state: &ChimeraState, steps: usize, device: &Device) -> Tensor<3> {
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
