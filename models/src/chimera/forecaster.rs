//! Chimera behind the common interfaces: [`Forecaster`], [`Reconstructor`] (each row's one-step
//! prediction from the rows before it) and [`StepForecaster`] (the recurrent form, `step.rs`).
use burn::prelude::*;

use super::{Chimera, ChimeraState};
use crate::forecaster::{Forecaster, Reconstructor, StepForecaster, Stepper};
use crate::token_head::align_next_predictions;

impl Forecaster for Chimera {
    fn lookback(&self) -> usize {
        self.lookback
    }

    fn horizon(&self) -> usize {
        self.horizon
    }

    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, H, V]`
    fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        Chimera::forecast(self, x_blv)
    }

    /// Mean squared error of the forecast.
    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        self.mse(x_blv, y_bhv)
    }

    fn reconstructor(&self) -> Option<&dyn Reconstructor> {
        Some(self)
    }

    fn stepper(&self) -> Option<&dyn Stepper> {
        Some(self)
    }
}

impl Reconstructor for Chimera {
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, L, V]`
    fn reconstruct(&self, x_blv: Tensor<3>) -> Tensor<3> {
        self.forecast_and_reconstruct(x_blv).1
    }

    /// One forward pass for both.
    fn forecast_and_reconstruct(&self, x_blv: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let out = self.forward(x_blv.clone());
        (out.forecast_bhv, align_next_predictions(x_blv, out.next_pred_blv))
    }
}

impl StepForecaster for Chimera {
    type State = ChimeraState;

    /// A zero state normalising with the statistics of `anchor_blv`.
    fn fresh_state(&self, anchor_blv: Tensor<3>) -> Self::State {
        let [b, _, v] = anchor_blv.dims();
        self.init_state(b, v, &self.norm_stats(anchor_blv))
    }

    fn start(&self, context_blv: Tensor<3>) -> (Self::State, Tensor<3>) {
        self.prime(context_blv)
    }

    fn step(&self, state: &mut Self::State, x_bv: Tensor<2>) -> Tensor<2> {
        Chimera::step(self, x_bv, state)
    }

    fn forecast_from_state(&self, state: &Self::State, steps: usize, device: &Device) -> Tensor<3> {
        Chimera::forecast_from_state(self, state, steps, device)
    }

    fn state_bytes(&self, state: &Self::State) -> usize {
        state.value_bytes()
    }
}
