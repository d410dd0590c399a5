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
use crate::forecaster::BatchedState;
use crate::scan2d::ColumnState;
use crate::spacetime::{NormStats, StateTensor};
use crate::token_head::{HeadStream, roll_forecast};

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
    /// Normalisation, the head's last `K` inputs, the current forecast, points consumed.
    #[serde(flatten)]
    pub head: HeadStream,
    /// Per block, one entry per head (in [`super::ChimeraBlock::heads`] order).
    pub blocks: Vec<Vec<ColumnStreamState>>,
}

impl ChimeraState {
    /// Bytes of the `f32` values held.
    pub fn value_bytes(&self) -> usize {
        let t = |v: &StateTensor| v.values.len() * std::mem::size_of::<f32>();
        self.head.value_bytes()
            + self
                .blocks
                .iter()
                .flatten()
                .map(|c| t(&c.h1_bven) + t(&c.h2_bven))
                .sum::<usize>()
    }
}

impl BatchedState for ChimeraState {
    crate::token_head::head_state_counters!();

    fn concat(parts: &[&Self]) -> Self {
        let first = parts.first().expect("ChimeraState::concat: no parts");
        let blocks = (0..first.blocks.len())
            .map(|i| {
                (0..first.blocks[i].len())
                    .map(|j| ColumnStreamState {
                        h1_bven: StateTensor::concat(
                            &parts.iter().map(|p| &p.blocks[i][j].h1_bven).collect::<Vec<_>>(),
                        ),
                        h2_bven: StateTensor::concat(
                            &parts.iter().map(|p| &p.blocks[i][j].h2_bven).collect::<Vec<_>>(),
                        ),
                    })
                    .collect()
            })
            .collect();
        Self {
            head: HeadStream::concat(&parts.iter().map(|p| &p.head).collect::<Vec<_>>()),
            blocks,
        }
    }

    fn split(&self, batches: &[usize]) -> Vec<Self> {
        let total = self.head.batch;
        let mut blocks: Vec<Vec<_>> = self
            .blocks
            .iter()
            .map(|heads| {
                heads
                    .iter()
                    .map(|c| {
                        (
                            c.h1_bven.split_batches(batches, total).into_iter(),
                            c.h2_bven.split_batches(batches, total).into_iter(),
                        )
                    })
                    .collect()
            })
            .collect();
        self.head
            .split(batches)
            .into_iter()
            .map(|head| Self {
                head,
                blocks: blocks
                    .iter_mut()
                    .map(|heads| {
                        heads
                            .iter_mut()
                            .map(|(h1, h2)| ColumnStreamState {
                                h1_bven: h1.next().expect("one piece per batch"),
                                h2_bven: h2.next().expect("one piece per batch"),
                            })
                            .collect()
                    })
                    .collect(),
            })
            .collect()
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
        let head = HeadStream::new(
            batch,
            variates,
            stats,
            [self.head_tokens, self.width, self.horizon],
        );
        let device = stats.shift_n1.device();
        ChimeraState {
            head,
            blocks: self
                .blocks
                .iter()
                .map(|b| to_stream(b.zero_state(batch, variates, &device)))
                .collect(),
        }
    }

    /// Runs a whole look-back window (one batch forward pass) and returns the state after it,
    /// normalising with the window's own statistics, and every row's next-row prediction,
    /// `[B, L, V]`. Equals [`Self::init_state`] with those statistics followed by `L` steps.
    ///
    /// # Shapes
    /// * `context_blv`: `[B, L, V]`
    pub fn prime(&self, context_blv: Tensor<3>) -> (ChimeraState, Tensor<3>) {
        let [b, _, v] = context_blv.dims();
        let (out, stats, encoded) = self.forward_with_state(context_blv);
        let mut state = self.init_state(b, v, &stats);
        state.blocks = encoded.states.into_iter().map(to_stream).collect();
        state.head.after_window(&self.head, encoded.z_ntc);
        (state, out.next_pred_blv)
    }

    /// Consumes one row (every variate) per batch element; returns the prediction of the next
    /// row, `[B, V]`.
    ///
    /// # Shapes
    /// * `x_bv`: `[B, V]`, returns `[B, V]`
    pub fn step(&self, x_bv: Tensor<2>, state: &mut ChimeraState) -> Tensor<2> {
        let device = x_bv.device();
        let [b, v] = x_bv.dims();
        let u_n1 = state.head.normalize_row(x_bv);
        let mut z_bvc = self.embedding.forward(u_n1.reshape([b, v, 1]));
        for (block, s) in self.blocks.iter().zip(state.blocks.iter_mut()) {
            let columns = s.iter().map(|c| c.to_column(&device)).collect();
            let (out, columns) = block.step(z_bvc, columns);
            *s = to_stream(columns);
            z_bvc = out;
        }
        let z_nc = self.norm_out.forward(z_bvc).reshape([b * v, self.width]);
        state.head.advance(&self.head, z_nc)
    }

    /// The next `steps` rows from the state, without advancing it, `[B, steps, V]`: the head's
    /// output after the last point up to `H` steps, then the forecast fed back point by point.
    pub fn forecast_from_state(&self, state: &ChimeraState, steps: usize, device: &Device) -> Tensor<3> {
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
