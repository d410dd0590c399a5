//! Recurrent (streaming) mode of SpaceTime with an explicit, serialisable state (`docs/spacetime.md`
//! §1.1, §2.7: the step loop equals the batch forward).
//!
//! ```text
//! x_t (B, V) ─fold─> (N) ─normalise with FIXED stats─> u_t ─embed─> (N, C)
//!   block i:  [FIR preprocessing over the last K−1 inputs] → x ← A x + b u, y = cᵀx + D u → MLP → + skip
//!   decoder:  x ← A x + b z_t,  yᵒ_t = cᵀ x  ─head─> prediction of x_{t+1}
//! after the look-back:  ŷ = cᵀ x,  ẑ = kᵀ x,  x ← A x + b ẑ   (H times)  ─head─> forecast
//! ```
//!
//! Indexing: the state after consuming `u_0..u_t` is `x_t = Σ_{i ≤ t} A^{t−i} b u_i`
//! (`x_t = A x_{t−1} + b u_t`, `x_{−1} = 0`), and the layer output is `y_t = cᵀ x_t + D u_t`, which
//! is exactly the convolution `Σ_j k_j u_{t−j} + D u_t` with `k_j = cᵀ A^j b`. Each companion step
//! is a shift plus a rank-1 update: `O(d)` per channel and point; the FIR preprocessing is `O(K)`.
//!
//! **Normalisation in streaming form.** `mean`/`last`/`standardize` use statistics of the whole
//! look-back, so they are not causal. The stream therefore takes the statistics once, at
//! [`SpaceTime::init_state`] (e.g. [`SpaceTime::norm_stats`] of a look-back window, or values from
//! a calibration period), and keeps them fixed. With the statistics of the window being streamed,
//! the step path reproduces [`SpaceTime::forward`] exactly; a stream that runs past its window keeps
//! the old reference level (re-anchor by starting a new state from the latest window).
//!
//! The state holds plain `Vec<f32>` buffers with their shapes (`serde`), so it can be stored
//! between requests; it is converted to tensors for each step.
//!
//! Shape letters: `b` batch, `v` variates, `n` series (`b·v`), `c` channels, `d` state size,
//! `j` preprocessing history, `h` horizon.
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::block::EncoderBlockState;
use super::model::{SpaceTime, unfold_variates};
use super::norm::NormStats;

/// A tensor as plain data: row-major `values` of the given `shape`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

impl StateTensor {
    /// Copies a tensor to the host.
    pub fn from_tensor<const D: usize>(t: Tensor<D>) -> Self {
        let shape = t.dims().to_vec();
        let values = t.into_data().try_into_vec_as::<f32>().expect("float tensor data");
        Self { shape, values }
    }

    /// Uploads to `device`.
    ///
    /// # Panics
    /// If the rank differs from `D` or the values do not fill the shape.
    pub fn to_tensor<const D: usize>(&self, device: &Device) -> Tensor<D> {
        let shape: [usize; D] = self.shape.clone().try_into().expect("state tensor rank");
        Tensor::from_data(TensorData::new(self.values.clone(), shape), device)
    }
}

/// Streaming state of one encoder block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockStreamState {
    /// Preprocessing history `u_{t−1}, …, u_{t−K+1}`, `[N, C, K − 1]` (block 1 only).
    pub hist_ncj: Option<StateTensor>,
    /// Companion state `x_t`, `[N, C, d]`.
    pub x_ncd: StateTensor,
}

/// Complete streaming state of a [`SpaceTime`] model for `batch × variates` series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceTimeState {
    /// Batch size `B`.
    pub batch: usize,
    /// Variates `V` (series `n = b·V + v`).
    pub variates: usize,
    /// Fixed normalisation shift, `[N, 1]`.
    pub norm_shift_n1: StateTensor,
    /// Fixed normalisation scale, `[N, 1]`.
    pub norm_scale_n1: StateTensor,
    /// One entry per encoder block.
    pub encoder: Vec<BlockStreamState>,
    /// Decoder state `x_t` (after the look-back: `x_L`), `[N, C, d]`.
    pub decoder_x_ncd: StateTensor,
    /// Points consumed so far.
    pub steps: usize,
}

impl SpaceTimeState {
    /// Bytes of the `f32` values held (normalisation, every block's state, the decoder's).
    pub fn value_bytes(&self) -> usize {
        let t = |v: &StateTensor| v.values.len() * std::mem::size_of::<f32>();
        t(&self.norm_shift_n1)
            + t(&self.norm_scale_n1)
            + t(&self.decoder_x_ncd)
            + self
                .encoder
                .iter()
                .map(|b| t(&b.x_ncd) + b.hist_ncj.as_ref().map_or(0, t))
                .sum::<usize>()
    }
}

/// What one streaming step returns.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// Open-loop prediction of the next value `x_{t+1}`, original scale, `[B, V]`.
    pub next_pred_bv: Tensor<2>,
    /// Encoder output `z_t` (decoder input), `[B·V, C]`.
    pub encoder_out_nc: Tensor<2>,
}

impl SpaceTime {
    /// Zero state for `batch × variates` series with fixed normalisation statistics.
    ///
    /// # Shapes
    /// * `stats` fields: `[B·V, 1]`
    pub fn init_state(&self, batch: usize, variates: usize, stats: &NormStats) -> SpaceTimeState {
        let n = batch * variates;
        assert_eq!(
            [n, 1],
            stats.shift_n1.dims(),
            "init_state: stats are not [B·V, 1]"
        );
        let device = stats.shift_n1.device();
        let encoder = self
            .encoder
            .iter()
            .map(|block| {
                let s = block.zero_state(n, &device);
                BlockStreamState {
                    hist_ncj: s.hist_ncj.map(StateTensor::from_tensor),
                    x_ncd: StateTensor::from_tensor(s.x_ncd),
                }
            })
            .collect();
        SpaceTimeState {
            batch,
            variates,
            norm_shift_n1: StateTensor::from_tensor(stats.shift_n1.clone()),
            norm_scale_n1: StateTensor::from_tensor(stats.scale_n1.clone()),
            encoder,
            decoder_x_ncd: StateTensor::from_tensor(Tensor::<3>::zeros(
                [n, self.width, self.state_dim],
                &device,
            )),
            steps: 0,
        }
    }

    fn stats_of(state: &SpaceTimeState, device: &Device) -> NormStats {
        NormStats {
            shift_n1: state.norm_shift_n1.to_tensor(device),
            scale_n1: state.norm_scale_n1.to_tensor(device),
        }
    }

    /// Consumes one point per series and advances every layer's state.
    ///
    /// # Shapes
    /// * `x_bv`: `[B, V]`; see [`StepOutput`]
    pub fn step(&self, x_bv: Tensor<2>, state: &mut SpaceTimeState) -> StepOutput {
        let [b, v] = x_bv.dims();
        assert_eq!(
            [b, v],
            [state.batch, state.variates],
            "step: input does not match the state"
        );
        let device = x_bv.device();
        let n = b * v;
        let stats = Self::stats_of(state, &device);
        let u_n1 = stats.normalize(x_bv.reshape([n, 1]));
        let mut z_nc = self.embed(u_n1).reshape([n, self.width]);
        for (block, s) in self.encoder.iter().zip(state.encoder.iter_mut()) {
            let st = EncoderBlockState {
                hist_ncj: s.hist_ncj.as_ref().map(|h| h.to_tensor(&device)),
                x_ncd: s.x_ncd.to_tensor(&device),
            };
            let (out_nc, st) = block.step(z_nc, st);
            *s = BlockStreamState {
                hist_ncj: st.hist_ncj.map(StateTensor::from_tensor),
                x_ncd: StateTensor::from_tensor(st.x_ncd),
            };
            z_nc = out_nc;
        }
        let (y_nc, _, x_ncd) = self
            .decoder
            .step(z_nc.clone(), state.decoder_x_ncd.to_tensor(&device));
        state.decoder_x_ncd = StateTensor::from_tensor(x_ncd);
        state.steps += 1;
        let pred_n1 = stats.denormalize(self.head.forward(y_nc));
        StepOutput {
            next_pred_bv: pred_n1.reshape([b, v]),
            encoder_out_nc: z_nc,
        }
    }

    /// Feeds a whole look-back window point by point from a fresh state whose normalisation
    /// statistics are those of the window (so it matches [`Self::forward`]).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`; returns the state and the `L` step outputs
    pub fn stream_lookback(&self, x_blv: Tensor<3>) -> (SpaceTimeState, Vec<StepOutput>) {
        let [b, l, v] = x_blv.dims();
        let mut state = self.init_state(b, v, &self.norm_stats(x_blv.clone()));
        let outputs = (0..l)
            .map(|t| self.step(x_blv.clone().narrow(1, t, 1).reshape([b, v]), &mut state))
            .collect();
        (state, outputs)
    }

    /// Closed-loop forecast from the current state by explicit rollout (`O(H·C·d)` per series);
    /// the state itself is not advanced.
    ///
    /// # Shapes
    /// * returns `[B, H, V]`
    pub fn forecast_from_state(&self, state: &SpaceTimeState, horizon: usize, device: &Device) -> Tensor<3> {
        let n = state.batch * state.variates;
        let (y_nhc, _) = self
            .decoder
            .rollout(state.decoder_x_ncd.to_tensor(device), horizon);
        let stats = Self::stats_of(state, device);
        let forecast_nh = stats.denormalize(self.head.forward(y_nhc).reshape([n, horizon]));
        unfold_variates(forecast_nh, state.batch, state.variates)
    }
}
