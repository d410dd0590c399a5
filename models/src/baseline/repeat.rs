//! [`Repeat`]: the naive forecast, the last look-back value repeated over the horizon.
//!
//! `ŷ_{L+h} = x_{L−1}` for `h = 0 … H−1`, per variate. No parameters; it is the "Repeat" row of
//! the long-term forecasting tables. Its recurrent form is exact and constant-time: the state is
//! the last row seen.
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::forecaster::{BatchedState, Forecaster, Reconstructor, StepForecaster, Stepper};

/// Configuration of [`Repeat`].
#[derive(Config, Debug, PartialEq, Eq)]
pub struct RepeatConfig {
    /// Look-back `L` (only the last step is read).
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
}

impl RepeatConfig {
    /// Checks what [`Self::init`] asserts.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming `lookback` or `horizon` when it is 0.
    pub fn validate(&self) -> Result<()> {
        super::validate_geometry(self.lookback, self.horizon)
    }

    /// Builds the model (nothing is allocated on `_device`).
    ///
    /// # Panics
    /// On a configuration that [`Self::validate`] refuses.
    pub fn init(&self, _device: &Device) -> Repeat {
        if let Err(e) = self.validate() {
            panic!("RepeatConfig::init: {e}");
        }
        Repeat {
            lookback: self.lookback,
            horizon: self.horizon,
        }
    }
}

/// Repeat-the-last-value forecaster (no parameters). Build it with [`RepeatConfig::init`].
#[derive(Module, Debug)]
pub struct Repeat {
    /// Look-back `L`.
    pub lookback: usize,
    /// Horizon `H`.
    pub horizon: usize,
}

impl Forecaster for Repeat {
    fn lookback(&self) -> usize {
        self.lookback
    }

    fn horizon(&self) -> usize {
        self.horizon
    }

    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, H, V]`
    fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        let [_, l, _] = x_blv.dims();
        x_blv.narrow(1, l - 1, 1).repeat_dim(1, self.horizon)
    }

    /// MSE of the forecast (no gradient: there is nothing to train).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, `y_bhv`: `[B, H, V]`; returns `[1]`
    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        (self.forecast(x_blv) - y_bhv).square().mean()
    }

    /// Repeat has no estimate of the look-back rows (it would be the rows themselves).
    fn reconstructor(&self) -> Option<&dyn Reconstructor> {
        None
    }

    fn stepper(&self) -> Option<&dyn Stepper> {
        Some(self)
    }
}

/// The recurrent state of [`Repeat`]: the last row seen per series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatState {
    /// Series in the batch.
    pub batch: usize,
    /// Variates per series.
    pub variates: usize,
    /// The last row, [batch, variates] row-major.
    pub last_bv: Vec<f32>,
}

impl BatchedState for RepeatState {
    fn batch(&self) -> usize {
        self.batch
    }

    /// Repeat keeps no counter.
    fn points(&self) -> usize {
        0
    }

    fn set_points(&mut self, _points: usize) {}

    fn concat(parts: &[&Self]) -> Self {
        let first = parts.first().expect("RepeatState::concat: no parts");
        assert!(
            parts.iter().all(|p| p.variates == first.variates),
            "RepeatState::concat: states of different variate counts"
        );
        Self {
            batch: parts.iter().map(|p| p.batch).sum(),
            variates: first.variates,
            last_bv: parts.iter().flat_map(|p| p.last_bv.iter().copied()).collect(),
        }
    }

    fn split(&self, batches: &[usize]) -> Vec<Self> {
        assert_eq!(
            batches.iter().sum::<usize>(),
            self.batch,
            "RepeatState::split: batches do not add up"
        );
        let mut at = 0;
        batches
            .iter()
            .map(|&batch| {
                let n = batch * self.variates;
                let last_bv = self.last_bv[at..at + n].to_vec();
                at += n;
                Self {
                    batch,
                    variates: self.variates,
                    last_bv,
                }
            })
            .collect()
    }
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32 data")
}

/// Exact: forecasts from the state equal [`Forecaster::forecast`] of the window ending at the
/// last row consumed.
impl StepForecaster for Repeat {
    type State = RepeatState;

    /// The anchor's last row (it is replaced by the first row consumed).
    fn fresh_state(&self, anchor_blv: Tensor<3>) -> RepeatState {
        let [b, l, v] = anchor_blv.dims();
        RepeatState {
            batch: b,
            variates: v,
            last_bv: host(anchor_blv.narrow(1, l - 1, 1).reshape([b, v])),
        }
    }

    /// The next-row prediction after each row is that row.
    fn start(&self, context_blv: Tensor<3>) -> (RepeatState, Tensor<3>) {
        let state = self.fresh_state(context_blv.clone());
        (state, context_blv)
    }

    fn step(&self, state: &mut RepeatState, x_bv: Tensor<2>) -> Tensor<2> {
        let [b, v] = x_bv.dims();
        assert_eq!(
            [b, v],
            [state.batch, state.variates],
            "Repeat::step: input does not match the state"
        );
        state.last_bv = host(x_bv.clone());
        x_bv
    }

    fn forecast_from_state(&self, state: &RepeatState, steps: usize, device: &Device) -> Tensor<3> {
        let last = Tensor::<3>::from_data(
            TensorData::new(state.last_bv.clone(), [state.batch, 1, state.variates]),
            device,
        );
        last.repeat_dim(1, steps)
    }

    fn state_bytes(&self, state: &RepeatState) -> usize {
        state.last_bv.len() * std::mem::size_of::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streaming a window through the recurrent form forecasts what the window forecast gives.
    #[test]
    fn recurrent_form_equals_window_forecast() {
        let device = Device::flex();
        let model = RepeatConfig::new(4, 3).init(&device);
        let x = Tensor::<3>::random([2, 6, 3], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let (mut state, preds) = StepForecaster::start(&model, x.clone().narrow(1, 0, 4));
        assert_eq!(preds.dims(), [2, 4, 3]);
        for t in 4..6 {
            StepForecaster::step(&model, &mut state, x.clone().narrow(1, t, 1).reshape([2, 3]));
            let streamed = StepForecaster::forecast_from_state(&model, &state, 3, &device);
            let window = Forecaster::forecast(&model, x.clone().narrow(1, t + 1 - 4, 4));
            let diff: f32 = (streamed - window).abs().max().into_scalar();
            assert_eq!(diff, 0.0, "row {t}");
        }
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<RepeatState>(&json).unwrap(), state);
    }
}
