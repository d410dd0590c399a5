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
use crate::forecaster::BatchedState;
use crate::ssm::precise_matmul;

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

    /// Moves the values out into a tensor on `device`, leaving this one empty (for a state that
    /// is about to be replaced: no copy of the values on the CPU backend).
    ///
    /// # Panics
    /// If the rank differs from `D` or the values do not fill the shape.
    pub fn take_tensor<const D: usize>(&mut self, device: &Device) -> Tensor<D> {
        let shape: [usize; D] = self.shape.clone().try_into().expect("state tensor rank");
        Tensor::from_data(TensorData::new(std::mem::take(&mut self.values), shape), device)
    }

    /// The parts stacked along the first dimension (their other dimensions must agree).
    ///
    /// # Panics
    /// If `parts` is empty or their trailing dimensions differ.
    pub fn concat(parts: &[&Self]) -> Self {
        let first = parts.first().expect("StateTensor::concat: no parts");
        let mut shape = first.shape.clone();
        shape[0] = 0;
        let mut values = Vec::with_capacity(parts.iter().map(|p| p.values.len()).sum());
        for p in parts {
            assert_eq!(
                p.shape[1..],
                first.shape[1..],
                "StateTensor::concat: trailing dimensions differ"
            );
            shape[0] += p.shape[0];
            values.extend_from_slice(&p.values);
        }
        Self { shape, values }
    }

    /// Splits along the first dimension into pieces of `rows[i]` leading rows each.
    ///
    /// # Panics
    /// If the rows do not add up to the first dimension.
    pub fn split(&self, rows: &[usize]) -> Vec<Self> {
        assert_eq!(
            rows.iter().sum::<usize>(),
            self.shape[0],
            "StateTensor::split: rows do not add up"
        );
        let per_row: usize = self.shape[1..].iter().product();
        let mut at = 0;
        rows.iter()
            .map(|&r| {
                let mut shape = self.shape.clone();
                shape[0] = r;
                let values = self.values[at..at + r * per_row].to_vec();
                at += r * per_row;
                Self { shape, values }
            })
            .collect()
    }

    /// [`Self::split`] into pieces of `batches[i]` batch items each, when the first dimension
    /// holds `rows_per_item` rows per batch item.
    pub fn split_batches(&self, batches: &[usize], total_batch: usize) -> Vec<Self> {
        assert_eq!(
            self.shape[0] % total_batch.max(1),
            0,
            "StateTensor::split_batches: first dimension is not a multiple of the batch"
        );
        let per_item = self.shape[0] / total_batch.max(1);
        let rows: Vec<usize> = batches.iter().map(|b| b * per_item).collect();
        self.split(&rows)
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

/// `STATECAST_STEP_TENSOR_OPS=1` runs the CPU's streaming steps with tensor operations too
/// (the accelerators' path), for comparison.
fn in_place_disabled() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("STATECAST_STEP_TENSOR_OPS").is_some_and(|v| v == "1"))
}

impl BatchedState for SpaceTimeState {
    fn batch(&self) -> usize {
        self.batch
    }

    fn points(&self) -> usize {
        self.steps
    }

    fn set_points(&mut self, points: usize) {
        self.steps = points;
    }

    fn concat(parts: &[&Self]) -> Self {
        let first = parts.first().expect("SpaceTimeState::concat: no parts");
        assert!(
            parts
                .iter()
                .all(|p| p.variates == first.variates && p.encoder.len() == first.encoder.len()),
            "SpaceTimeState::concat: states of different shapes"
        );
        let cat = |f: &dyn Fn(&Self) -> &StateTensor| {
            StateTensor::concat(&parts.iter().map(|p| f(p)).collect::<Vec<_>>())
        };
        let encoder = (0..first.encoder.len())
            .map(|i| BlockStreamState {
                hist_ncj: first.encoder[i]
                    .hist_ncj
                    .as_ref()
                    .map(|_| cat(&|p: &Self| p.encoder[i].hist_ncj.as_ref().expect("same block layout"))),
                x_ncd: cat(&|p: &Self| &p.encoder[i].x_ncd),
            })
            .collect();
        Self {
            batch: parts.iter().map(|p| p.batch).sum(),
            variates: first.variates,
            norm_shift_n1: cat(&|p: &Self| &p.norm_shift_n1),
            norm_scale_n1: cat(&|p: &Self| &p.norm_scale_n1),
            encoder,
            decoder_x_ncd: cat(&|p: &Self| &p.decoder_x_ncd),
            steps: 0,
        }
    }

    fn split(&self, batches: &[usize]) -> Vec<Self> {
        let split = |t: &StateTensor| t.split_batches(batches, self.batch);
        let mut shift = split(&self.norm_shift_n1).into_iter();
        let mut scale = split(&self.norm_scale_n1).into_iter();
        let mut decoder = split(&self.decoder_x_ncd).into_iter();
        let mut blocks: Vec<_> = self
            .encoder
            .iter()
            .map(|b| {
                (
                    b.hist_ncj.as_ref().map(|h| split(h).into_iter()),
                    split(&b.x_ncd).into_iter(),
                )
            })
            .collect();
        batches
            .iter()
            .map(|&batch| Self {
                batch,
                variates: self.variates,
                norm_shift_n1: shift.next().expect("one piece per batch"),
                norm_scale_n1: scale.next().expect("one piece per batch"),
                encoder: blocks
                    .iter_mut()
                    .map(|(h, x)| BlockStreamState {
                        hist_ncj: h.as_mut().map(|h| h.next().expect("one piece per batch")),
                        x_ncd: x.next().expect("one piece per batch"),
                    })
                    .collect(),
                decoder_x_ncd: decoder.next().expect("one piece per batch"),
                steps: self.steps,
            })
            .collect()
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
            .enumerate()
            .map(|(i, block)| {
                let s = block.zero_state(n, &device);
                let hist = match (s.hist_ncj, self.shared_history(i)) {
                    // One history per series: [N, 1, K − 1].
                    (Some(h), true) => Some(StateTensor::from_tensor(h.narrow(1, 0, 1))),
                    (h, _) => h.map(StateTensor::from_tensor),
                };
                BlockStreamState {
                    hist_ncj: hist,
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

    /// Whether block `i`'s preprocessing history is kept once per series rather than once per
    /// channel: true for the first block under the repeat embedding, whose `C` channels all carry
    /// the normalised input (a state `C` times smaller there; states stored with a per-channel
    /// history still step the general way).
    pub(super) fn shared_history(&self, i: usize) -> bool {
        i == 0 && self.embedding.is_none() && self.width > 1
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
        let device = x_bv.device();
        let in_place = device.inner() == Device::flex() && !in_place_disabled();
        self.step_with(x_bv, state, in_place)
    }

    /// [`Self::step`] with tensor operations on every device (the accelerators' path; on the CPU
    /// the companion recurrences otherwise update the host state in place).
    pub fn step_with_tensor_ops(&self, x_bv: Tensor<2>, state: &mut SpaceTimeState) -> StepOutput {
        self.step_with(x_bv, state, false)
    }

    fn step_with(&self, x_bv: Tensor<2>, state: &mut SpaceTimeState, in_place: bool) -> StepOutput {
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
        let mut z_nc = self.embed(u_n1.clone()).reshape([n, self.width]);

        for (i, (block, s)) in self.encoder.iter().zip(state.encoder.iter_mut()).enumerate() {
            if let (Some(pre), Some(hist)) = (&block.pre, &s.hist_ncj)
                && hist.shape[1] == 1
                && self.shared_history(i)
            {
                // The input is `u` on every channel: filter the one history (see `init_state`).
                let j = hist.shape[2];
                let hist_nj = hist.to_tensor::<3>(&device).reshape([n, j]);
                let (pre_nc, hist_nj) = pre.step_shared(u_n1.clone(), hist_nj);
                let out_nc = if in_place {
                    block.step_after_pre_in_place(pre_nc, &mut s.x_ncd.values)
                } else {
                    let (out_nc, x_ncd) = block.step_after_pre(pre_nc, s.x_ncd.take_tensor(&device));
                    s.x_ncd = StateTensor::from_tensor(x_ncd);
                    out_nc
                };
                s.hist_ncj = Some(StateTensor::from_tensor(hist_nj.reshape([n, 1, j])));
                z_nc = out_nc;
                continue;
            }
            if in_place {
                let pre_nc = match (&block.pre, &mut s.hist_ncj) {
                    (Some(pre), Some(hist)) => {
                        let (pre_nc, h) = pre.step(z_nc, hist.to_tensor(&device));
                        *hist = StateTensor::from_tensor(h);
                        pre_nc
                    }
                    (None, None) => z_nc,
                    (Some(_), None) | (None, Some(_)) => {
                        panic!("SpaceTime::step: state does not match the block")
                    }
                };
                z_nc = block.step_after_pre_in_place(pre_nc, &mut s.x_ncd.values);
                continue;
            }
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
        let y_nc = if in_place {
            self.decoder
                .step_in_place(z_nc.clone(), &mut state.decoder_x_ncd.values)
        } else {
            let (y_nc, _, x_ncd) = self
                .decoder
                .step(z_nc.clone(), state.decoder_x_ncd.take_tensor(&device));
            state.decoder_x_ncd = StateTensor::from_tensor(x_ncd);
            y_nc
        };
        state.steps += 1;
        let pred_n1 = stats.denormalize(self.head.forward(y_nc));
        StepOutput {
            next_pred_bv: pred_n1.reshape([b, v]),
            encoder_out_nc: z_nc,
        }
    }

    /// [`Self::step`] of several states at once on the CPU, without stacking them: the
    /// per-point vectors of all their series go through each layer's tensor operations together,
    /// while every companion recurrence updates its state in place, in the state's own buffers
    /// ([`super::host_step`]). Stacking would copy every state (tens of kilobytes per series)
    /// in and out on each step. `None` (nothing stepped) when the states' layouts differ (a
    /// state stored with a per-channel preprocessing history among shared ones): step them
    /// stacked then.
    ///
    /// # Shapes
    /// * `x_bv`: `[Σ B_i, V]`, the states' rows in order; returns the next-point predictions,
    ///   `[Σ B_i, V]`
    pub fn step_many_in_place(
        &self,
        x_bv: Tensor<2>,
        states: &mut [&mut SpaceTimeState],
    ) -> Option<Tensor<2>> {
        let first = states.first()?;
        let [b, v] = x_bv.dims();
        // Per block, the trailing shape of its preprocessing history (read, not copied: this
        // runs for every state of every step).
        fn hist_shape(s: &SpaceTimeState, i: usize) -> Option<&[usize]> {
            s.encoder[i].hist_ncj.as_ref().map(|h| &h.shape[1..])
        }
        if states.iter().any(|s| {
            s.variates != v
                || s.encoder.len() != self.encoder.len()
                || (0..self.encoder.len()).any(|i| hist_shape(s, i) != hist_shape(first, i))
        }) {
            return None;
        }
        assert_eq!(
            states.iter().map(|s| s.batch).sum::<usize>(),
            b,
            "step_many_in_place: input rows do not match the states"
        );
        let device = x_bv.device();
        let n = b * v;
        let batches: Vec<usize> = states.iter().map(|s| s.batch).collect();
        let cat = |f: &dyn Fn(&SpaceTimeState) -> &StateTensor| {
            StateTensor::concat(&states.iter().map(|s| f(s)).collect::<Vec<_>>()).to_tensor::<2>(&device)
        };
        let stats = NormStats {
            shift_n1: cat(&|s| &s.norm_shift_n1),
            scale_n1: cat(&|s| &s.norm_scale_n1),
        };
        let u_n1 = stats.normalize(x_bv.reshape([n, 1]));
        let mut z_nc = self.embed(u_n1.clone()).reshape([n, self.width]);
        for (i, block) in self.encoder.iter().enumerate() {
            // [channels or 1, history length] of this block's history (the same for all states).
            let shape = hist_shape(states[0], i).map(|h| (h[0], h[1]));
            let pre_nc = match (&block.pre, shape) {
                (Some(pre), Some((rows, j))) => {
                    let hist = StateTensor::concat(
                        &states
                            .iter()
                            .map(|s| s.encoder[i].hist_ncj.as_ref().expect("same layout"))
                            .collect::<Vec<_>>(),
                    );
                    let (pre_nc, hist) = if rows == 1 && self.shared_history(i) {
                        // The input is `u` on every channel: filter the one history.
                        let (pre_nc, hist_nj) =
                            pre.step_shared(u_n1.clone(), hist.to_tensor::<3>(&device).reshape([n, j]));
                        (pre_nc, hist_nj.reshape([n, 1, j]))
                    } else {
                        pre.step(z_nc, hist.to_tensor(&device))
                    };
                    let pieces = StateTensor::from_tensor(hist).split_batches(&batches, b);
                    for (s, piece) in states.iter_mut().zip(pieces) {
                        s.encoder[i].hist_ncj = Some(piece);
                    }
                    pre_nc
                }
                (None, None) => z_nc,
                (Some(_), None) | (None, Some(_)) => {
                    panic!("SpaceTime::step_many_in_place: state does not match the block")
                }
            };
            let mut xs: Vec<&mut [f32]> = states
                .iter_mut()
                .map(|s| s.encoder[i].x_ncd.values.as_mut_slice())
                .collect();
            z_nc = block.step_after_pre_in_place_many(pre_nc, &mut xs);
        }
        let mut xs: Vec<&mut [f32]> = states
            .iter_mut()
            .map(|s| s.decoder_x_ncd.values.as_mut_slice())
            .collect();
        let y_nc = self.decoder.step_in_place_many(z_nc, &mut xs);
        for s in states.iter_mut() {
            s.steps += 1;
        }
        Some(stats.denormalize(self.head.forward(y_nc)).reshape([b, v]))
    }

    /// Whether this device steps host states in place (the CPU, unless
    /// `STATECAST_STEP_TENSOR_OPS=1`).
    pub(crate) fn steps_in_place(device: &Device) -> bool {
        device.clone().inner() == Device::flex() && !in_place_disabled()
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

    /// Closed-loop forecast from the current state (`O(H·C·d)` per series): one product of the
    /// decoder state with the closed-loop rows `cᵀM^h`, as the batch forward computes its
    /// horizon, rather than `H` rollout steps; the state itself is not advanced.
    ///
    /// # Shapes
    /// * returns `[B, H, V]`
    pub fn forecast_from_state(&self, state: &SpaceTimeState, horizon: usize, device: &Device) -> Tensor<3> {
        self.forecast_from_states(&[state], horizon, device, None)
    }

    /// [`Self::forecast_from_state`] of several states in one product, reading only what a
    /// forecast needs (the decoder state and the normalisation), `[Σ B, H, V]`. `rows_chd` are
    /// [`super::decoder::ClosedLoopSsm::closed_rows`] of this horizon when the caller kept them.
    ///
    /// # Panics
    /// If `states` is empty or their variate counts differ.
    pub fn forecast_from_states(
        &self,
        states: &[&SpaceTimeState],
        horizon: usize,
        device: &Device,
        rows_chd: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let first = states.first().expect("forecast_from_states: no states");
        assert!(
            states.iter().all(|s| s.variates == first.variates),
            "forecast_from_states: states of different variate counts"
        );
        let cat = |f: fn(&SpaceTimeState) -> &StateTensor| {
            StateTensor::concat(&states.iter().map(|s| f(s)).collect::<Vec<_>>())
        };
        let mut x_ncd = cat(|s| &s.decoder_x_ncd);
        let state = SpaceTimeState {
            batch: states.iter().map(|s| s.batch).sum(),
            variates: first.variates,
            norm_shift_n1: cat(|s| &s.norm_shift_n1),
            norm_scale_n1: cat(|s| &s.norm_scale_n1),
            encoder: Vec::new(),
            decoder_x_ncd: StateTensor {
                shape: Vec::new(),
                values: Vec::new(),
            },
            steps: 0,
        };
        // Channel-major, as the batch forward: one transposition of the states, none after.
        let x_cdn = x_ncd.take_tensor::<3>(device).permute([1, 2, 0]);
        let rows_chd = rows_chd.unwrap_or_else(|| self.decoder.closed_rows(horizon));
        let y_chn = precise_matmul(rows_chd, x_cdn);
        let stats = Self::stats_of(&state, device);
        let forecast_nh = stats.denormalize(self.head.forward_cln(y_chn));
        unfold_variates(forecast_nh, state.batch, state.variates)
    }
}
