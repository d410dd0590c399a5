//! The token head that SiMBA and Chimera share: `Linear(K·C → H)` over the last `K` tokens of a
//! series (oldest first, flattened), and what follows from it.
//!
//! Every token is the causal summary of its series up to that time step, so the head applied to
//! tokens `t−K+1 ..= t` (zeros before the first token) forecasts rows `t + 1 ..= t + H`:
//!
//! * on the last `K` tokens of a window it is the forecast ([`head_input`]);
//! * its first output at every token is the model's one-step prediction, which the anomaly scorer
//!   uses as the reconstruction ([`next_row_predictions`], [`align_next_predictions`]);
//! * a stream keeps the last `K` head inputs in its state ([`HeadStream`]), so a point costs
//!   `O(K·C·H)` whatever came before, and forecasts beyond `H` by feeding the forecast back
//!   ([`roll_forecast`]);
//! * [`token_head_family!`] implements the `Forecaster`, `Reconstructor` and `StepForecaster`
//!   traits for a family built this way.
//!
//! Shape letters: `n` series, `t` time, `c` channels, `k` head tokens, `h` horizon, `b` batch,
//! `v` variates.
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use crate::spacetime::{NormStats, StateTensor, unfold_variates};

/// The head's input after the last of `T ≥ K` tokens: the last `K` tokens, oldest first,
/// flattened.
///
/// # Shapes
/// * `z_ntc`: `[N, T, C]`, returns `[N, K·C]`
pub(crate) fn head_input(z_ntc: Tensor<3>, k: usize) -> Tensor<2> {
    let [n, t, c] = z_ntc.dims();
    z_ntc.narrow(1, t - k, k).reshape([n, k * c])
}

/// The head's first output (the next-row prediction) at every token, each reading the `K`
/// tokens up to it with zeros before the first: a causal convolution over tokens with the
/// head's first column as its kernel.
///
/// # Shapes
/// * `z_ntc`: `[N, T, C]`, returns `[N, T]`
pub(crate) fn next_row_predictions(head: &Linear, k: usize, z_ntc: Tensor<3>) -> Tensor<2> {
    let [n, t, c] = z_ntc.dims();
    let weight_kc = head.weight.val().narrow(1, 0, 1).reshape([k, c]);
    let bias = head.bias.as_ref().map(|b| b.val().narrow(0, 0, 1));
    let z_nct = z_ntc.swap_dims(1, 2);
    let padded = if k > 1 {
        Tensor::cat(vec![Tensor::zeros([n, c, k - 1], &z_nct.device()), z_nct], 2)
    } else {
        z_nct
    };
    let weight_1ck = weight_kc.swap_dims(0, 1).reshape([1, c, k]);
    conv1d(padded, weight_1ck, bias, ConvOptions::new([1], [0], [1], 1)).reshape([n, t])
}

/// Row `t ≥ 1` is the prediction of row `t` made from rows `..t`; row 0 has no predecessor and is
/// the input row itself.
///
/// # Shapes
/// * `x_blv`, `next_pred_blv`: `[B, L, V]`; returns `[B, L, V]`
pub(crate) fn align_next_predictions(x_blv: Tensor<3>, next_pred_blv: Tensor<3>) -> Tensor<3> {
    let [_, l, _] = x_blv.dims();
    if l < 2 {
        return x_blv;
    }
    Tensor::cat(vec![x_blv.narrow(1, 0, 1), next_pred_blv.narrow(1, 0, l - 1)], 1)
}

/// The head's part of a streaming state, shared by the token-head families: the fixed
/// normalisation, the last `K` head inputs and the current forecast. Families flatten it into
/// their own state (`#[serde(flatten)]`), so their JSON keeps one level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadStream {
    /// Batch size `B`.
    pub batch: usize,
    /// Variates `V` (series `n = b·V + v`).
    pub variates: usize,
    /// Fixed normalisation shift, `[N, 1]`.
    pub norm_shift_n1: StateTensor,
    /// Fixed normalisation scale, `[N, 1]`.
    pub norm_scale_n1: StateTensor,
    /// The head's inputs of the last `K` points, oldest first (zeros before the first point),
    /// `[N, K, C]`.
    pub head_inputs_nkc: StateTensor,
    /// The head's output after the last point (normalised scale; zeros before the first point),
    /// `[N, H]`: the forecast of the next `H` rows.
    pub forecast_nh: StateTensor,
    /// Points consumed so far.
    pub steps: usize,
}

impl HeadStream {
    /// [`crate::forecaster::BatchedState::concat`] of the head parts (counter 0).
    pub(crate) fn concat(parts: &[&Self]) -> Self {
        let first = parts.first().expect("HeadStream::concat: no parts");
        assert!(
            parts.iter().all(|p| p.variates == first.variates),
            "HeadStream::concat: states of different variate counts"
        );
        let cat = |f: fn(&Self) -> &StateTensor| {
            StateTensor::concat(&parts.iter().map(|p| f(p)).collect::<Vec<_>>())
        };
        Self {
            batch: parts.iter().map(|p| p.batch).sum(),
            variates: first.variates,
            norm_shift_n1: cat(|p| &p.norm_shift_n1),
            norm_scale_n1: cat(|p| &p.norm_scale_n1),
            head_inputs_nkc: cat(|p| &p.head_inputs_nkc),
            forecast_nh: cat(|p| &p.forecast_nh),
            steps: 0,
        }
    }

    /// [`crate::forecaster::BatchedState::split`] of the head parts (counter copied).
    pub(crate) fn split(&self, batches: &[usize]) -> Vec<Self> {
        let split = |t: &StateTensor| t.split_batches(batches, self.batch);
        let pieces = [
            split(&self.norm_shift_n1),
            split(&self.norm_scale_n1),
            split(&self.head_inputs_nkc),
            split(&self.forecast_nh),
        ];
        let [shift, scale, inputs, forecast] = pieces.map(Vec::into_iter);
        shift
            .zip(scale)
            .zip(inputs.zip(forecast))
            .zip(batches)
            .map(|(((shift, scale), (inputs, forecast)), &batch)| Self {
                batch,
                variates: self.variates,
                norm_shift_n1: shift,
                norm_scale_n1: scale,
                head_inputs_nkc: inputs,
                forecast_nh: forecast,
                steps: self.steps,
            })
            .collect()
    }

    /// Nothing consumed yet, for `batch × variates` series with fixed statistics, a head on `k`
    /// tokens of `width` channels and horizon `horizon`.
    ///
    /// # Panics
    /// If the statistics are not `[B·V, 1]`.
    pub(crate) fn new(
        batch: usize,
        variates: usize,
        stats: &NormStats,
        [k, width, horizon]: [usize; 3],
    ) -> Self {
        let n = batch * variates;
        assert_eq!(
            stats.shift_n1.dims(),
            [n, 1],
            "stream state: statistics are not [B·V, 1]"
        );
        let device = stats.shift_n1.device();
        Self {
            batch,
            variates,
            norm_shift_n1: StateTensor::from_tensor(stats.shift_n1.clone()),
            norm_scale_n1: StateTensor::from_tensor(stats.scale_n1.clone()),
            head_inputs_nkc: StateTensor::from_tensor(Tensor::<3>::zeros([n, k, width], &device)),
            forecast_nh: StateTensor::from_tensor(Tensor::<2>::zeros([n, horizon], &device)),
            steps: 0,
        }
    }

    /// The fixed normalisation statistics.
    pub(crate) fn stats(&self, device: &Device) -> NormStats {
        NormStats {
            shift_n1: self.norm_shift_n1.to_tensor(device),
            scale_n1: self.norm_scale_n1.to_tensor(device),
        }
    }

    /// Bytes of the `f32` values held.
    pub fn value_bytes(&self) -> usize {
        [
            &self.norm_shift_n1,
            &self.norm_scale_n1,
            &self.head_inputs_nkc,
            &self.forecast_nh,
        ]
        .iter()
        .map(|t| t.values.len() * std::mem::size_of::<f32>())
        .sum()
    }

    /// The state after a whole window of `steps` tokens whose head inputs are `z_ntc`.
    ///
    /// # Shapes
    /// * `z_ntc`: `[N, T, C]` with `T ≥ K`
    pub(crate) fn after_window(&mut self, head: &Linear, z_ntc: Tensor<3>) {
        let [n, t, c] = z_ntc.dims();
        let k = self.head_inputs_nkc.shape[1];
        let recent_nkc = z_ntc.narrow(1, t - k, k);
        self.forecast_nh = StateTensor::from_tensor(head.forward(recent_nkc.clone().reshape([n, k * c])));
        self.head_inputs_nkc = StateTensor::from_tensor(recent_nkc);
        self.steps = t;
    }

    /// Consumes one more token's head input (dropping the oldest); returns the prediction of the
    /// next row in the original scale, `[B, V]`.
    ///
    /// # Shapes
    /// * `z_nc`: `[N, C]`
    pub(crate) fn advance(&mut self, head: &Linear, z_nc: Tensor<2>) -> Tensor<2> {
        let device = z_nc.device();
        let [n, c] = z_nc.dims();
        let earlier_nkc = self.head_inputs_nkc.to_tensor::<3>(&device);
        let k = earlier_nkc.dims()[1];
        let newest_n1c = z_nc.reshape([n, 1, c]);
        let recent_nkc = if k > 1 {
            Tensor::cat(vec![earlier_nkc.narrow(1, 1, k - 1), newest_n1c], 1)
        } else {
            newest_n1c
        };
        let forecast_nh = head.forward(recent_nkc.clone().reshape([n, k * c]));
        self.head_inputs_nkc = StateTensor::from_tensor(recent_nkc);
        self.forecast_nh = StateTensor::from_tensor(forecast_nh.clone());
        self.steps += 1;
        self.stats(&device)
            .denormalize(forecast_nh.narrow(1, 0, 1))
            .reshape([self.batch, self.variates])
    }

    /// Normalises one row with the fixed statistics, `[B, V] → [N, 1]`.
    pub(crate) fn normalize_row(&self, x_bv: Tensor<2>) -> Tensor<2> {
        let [b, v] = x_bv.dims();
        assert_eq!(
            [b, v],
            [self.batch, self.variates],
            "stream step: input does not match the state"
        );
        self.stats(&x_bv.device()).normalize(x_bv.reshape([b * v, 1]))
    }
}

/// The next `steps` rows of a stream without advancing it, `[B, steps, V]` (original scale). Up
/// to `H` steps this is the head's output after the last point (`forecast_of`, normalised scale,
/// `[B·V, H]`); beyond `H` the forecast is fed back point by point (`step`) into a copy of the
/// state and the head's next output continues it.
pub(crate) fn roll_forecast<S: Clone>(
    state: &S,
    [horizon, steps]: [usize; 2],
    stream: impl Fn(&S) -> &HeadStream,
    step: impl Fn(Tensor<2>, &mut S),
    device: &Device,
) -> Tensor<3> {
    let (b, v) = (stream(state).batch, stream(state).variates);
    let stats = stream(state).stats(device);
    let mut rolled = state.clone();
    let mut parts = Vec::new();
    let mut left = steps;
    while left > 0 {
        let forecast_nh = stats.denormalize(stream(&rolled).forecast_nh.to_tensor(device));
        let take = left.min(horizon);
        parts.push(forecast_nh.clone().narrow(1, 0, take));
        left -= take;
        if left > 0 {
            let forecast_bhv = unfold_variates(forecast_nh, b, v);
            for j in 0..horizon {
                step(forecast_bhv.clone().narrow(1, j, 1).reshape([b, v]), &mut rolled);
            }
        }
    }
    let joined = if parts.is_empty() {
        Tensor::zeros([b * v, 0], device)
    } else {
        Tensor::cat(parts, 1)
    };
    unfold_variates(joined, b, v)
}

/// The [`crate::forecaster::BatchedState`] counters of a state whose `head: HeadStream` holds the
/// batch size and the points consumed (SiMBA's and Chimera's states).
macro_rules! head_state_counters {
    () => {
        fn batch(&self) -> usize {
            self.head.batch
        }

        fn points(&self) -> usize {
            self.head.steps
        }

        fn set_points(&mut self, points: usize) {
            self.head.steps = points;
        }
    };
}
pub(crate) use head_state_counters;

/// Implements `Forecaster`, `Reconstructor` (each row's one-step prediction from the rows before
/// it) and `StepForecaster` for a token-head family `$model` with streaming state `$state`. The
/// family provides `forecast`, `mse`, `forward` (an output with `forecast_bhv` and
/// `next_pred_blv`), `norm_stats`, `init_state`, `prime`, `step` and `forecast_from_state`, and
/// its state `value_bytes`.
macro_rules! token_head_family {
    ($model:ty, $state:ty) => {
        impl $crate::forecaster::Forecaster for $model {
            fn lookback(&self) -> usize {
                self.lookback
            }

            fn horizon(&self) -> usize {
                self.horizon
            }

            /// # Shapes
            /// * `x_blv`: `[B, L, V]`, returns `[B, H, V]`
            fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
                <$model>::forecast(self, x_blv)
            }

            /// Mean squared error of the forecast.
            fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
                self.mse(x_blv, y_bhv)
            }

            fn reconstructor(&self) -> Option<&dyn $crate::forecaster::Reconstructor> {
                Some(self)
            }

            fn stepper(&self) -> Option<&dyn $crate::forecaster::Stepper> {
                Some(self)
            }
        }

        impl $crate::forecaster::Reconstructor for $model {
            /// # Shapes
            /// * `x_blv`: `[B, L, V]`, returns `[B, L, V]`
            fn reconstruct(&self, x_blv: Tensor<3>) -> Tensor<3> {
                self.forecast_and_reconstruct(x_blv).1
            }

            /// One forward pass for both.
            fn forecast_and_reconstruct(&self, x_blv: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
                let out = self.forward(x_blv.clone());
                (
                    out.forecast_bhv,
                    $crate::token_head::align_next_predictions(x_blv, out.next_pred_blv),
                )
            }
        }

        impl $crate::forecaster::StepForecaster for $model {
            type State = $state;

            /// A zero state normalising with the statistics of `anchor_blv`.
            fn fresh_state(&self, anchor_blv: Tensor<3>) -> Self::State {
                let [b, _, v] = anchor_blv.dims();
                self.init_state(b, v, &self.norm_stats(anchor_blv))
            }

            fn start(&self, context_blv: Tensor<3>) -> (Self::State, Tensor<3>) {
                self.prime(context_blv)
            }

            fn step(&self, state: &mut Self::State, x_bv: Tensor<2>) -> Tensor<2> {
                <$model>::step(self, x_bv, state)
            }

            fn forecast_from_state(&self, state: &Self::State, steps: usize, device: &Device) -> Tensor<3> {
                <$model>::forecast_from_state(self, state, steps, device)
            }

            fn state_bytes(&self, state: &Self::State) -> usize {
                state.value_bytes()
            }
        }
    };
}
pub(crate) use token_head_family;
