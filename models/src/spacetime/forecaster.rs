//! SpaceTime behind the common interfaces: [`Forecaster`], [`Reconstructor`] (its open-loop
//! one-step predictions over the look-back) and [`StepForecaster`] (its recurrent mode, `step.rs`).
use burn::prelude::*;

use super::{PrimeKernels, SpaceTime, SpaceTimeState};
use crate::forecaster::{BatchedState, Forecaster, Reconstructor, StepForecaster, Stepper, StreamPlan};

/// SpaceTime's loss weights `[forecast, look-back, next-input]` (reference `[1, 1, 1]`).
pub const SPACETIME_LOSS_WEIGHTS: [f64; 3] = [1.0, 1.0, 1.0];

impl Forecaster for SpaceTime {
    fn lookback(&self) -> usize {
        self.lookback
    }

    fn horizon(&self) -> usize {
        self.horizon
    }

    /// The closed-loop forecast.
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, H, V]`
    fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        self.forward(x_blv).forecast_bhv
    }

    /// The three-term RMSE loss (forecast, look-back, next input) with weights
    /// [`SPACETIME_LOSS_WEIGHTS`]; see [`SpaceTime::loss`].
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, `y_bhv`: `[B, H, V]`; returns `[1]`
    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        let out = self.forward(x_blv.clone());
        SpaceTime::loss(self, &out, x_blv, y_bhv, SPACETIME_LOSS_WEIGHTS)
    }

    fn reconstructor(&self) -> Option<&dyn Reconstructor> {
        Some(self)
    }

    fn stepper(&self) -> Option<&dyn Stepper> {
        Some(self)
    }
}

/// Row `t ≥ 1` is the open-loop prediction of row `t` made from rows `..t` (the forward pass's
/// look-back predictions, shifted by one); row 0 has no predecessor and is the input row itself.
fn align_open_loop(x_blv: Tensor<3>, lookback_pred_blv: Tensor<3>) -> Tensor<3> {
    let [_, l, _] = x_blv.dims();
    if l < 2 {
        return x_blv;
    }
    Tensor::cat(
        vec![x_blv.narrow(1, 0, 1), lookback_pred_blv.narrow(1, 0, l - 1)],
        1,
    )
}

impl Reconstructor for SpaceTime {
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, L, V]`
    fn reconstruct(&self, x_blv: Tensor<3>) -> Tensor<3> {
        let out = self.forward(x_blv.clone());
        align_open_loop(x_blv, out.lookback_pred_blv)
    }

    /// One forward pass for both.
    fn forecast_and_reconstruct(&self, x_blv: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let out = self.forward(x_blv.clone());
        (out.forecast_bhv, align_open_loop(x_blv, out.lookback_pred_blv))
    }
}

/// SpaceTime's recurrent mode (`step.rs`) behind the common streaming interface.
impl StepForecaster for SpaceTime {
    type State = SpaceTimeState;

    /// A zero state normalising with the statistics of `anchor_blv`.
    fn fresh_state(&self, anchor_blv: Tensor<3>) -> Self::State {
        let [b, _, v] = anchor_blv.dims();
        self.init_state(b, v, &self.norm_stats(anchor_blv))
    }

    /// In convolution form ([`SpaceTime::prime`]): the state streaming the window would leave,
    /// from one pass.
    fn start(&self, context_blv: Tensor<3>) -> (Self::State, Tensor<3>) {
        self.prime(context_blv)
    }

    fn step(&self, state: &mut Self::State, x_bv: Tensor<2>) -> Tensor<2> {
        SpaceTime::step(self, x_bv, state).next_pred_bv
    }

    fn forecast_from_state(&self, state: &Self::State, steps: usize, device: &Device) -> Tensor<3> {
        SpaceTime::forecast_from_state(self, state, steps, device)
    }

    /// On the CPU, the states are stepped where they lie ([`SpaceTime::step_many_in_place`]);
    /// elsewhere (or for mixed layouts) stacked.
    fn step_many(&self, states: &mut [&mut Self::State], x_bv: Tensor<2>) -> Tensor<2> {
        if states.len() > 1
            && Self::steps_in_place(&x_bv.device())
            && let Some(pred_bv) = self.step_many_in_place(x_bv.clone(), states)
        {
            return pred_bv;
        }
        crate::forecaster::step_stacked(self, states, x_bv)
    }

    fn state_bytes(&self, state: &Self::State) -> usize {
        state.value_bytes()
    }

    /// Only the decoder states and normalisations are stacked.
    fn forecast_many(&self, states: &[&Self::State], steps: usize, device: &Device) -> Tensor<3> {
        self.forecast_from_states(states, steps, device, None)
    }

    /// The closed-loop rows `cᵀM^{h−1}` of the planned steps `h`, `[C, steps, d]` (none without
    /// steps), and the priming kernels of the look-back ([`SpaceTime::prime_kernels`]).
    fn stream_plan(&self, steps: &[usize]) -> StreamPlan {
        let rows = steps.last().map(|&last| {
            let device = self.decoder.devices()[0].clone();
            let idx: Vec<i64> = steps.iter().map(|&s| s as i64 - 1).collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [steps.len()]), &device);
            self.decoder.closed_rows(last).select(1, idx)
        });
        StreamPlan::new(steps, rows, self.prime_kernels(self.lookback))
    }

    /// Only the planned steps' rows go through the product and the head.
    fn forecast_planned(&self, plan: &StreamPlan, states: &[&Self::State], device: &Device) -> Tensor<3> {
        let rows = plan
            .forecast::<Option<Tensor<3>>>()
            .expect("forecast_planned: a plan made by SpaceTime::stream_plan")
            .clone()
            .expect("forecast_planned: a plan without steps");
        self.forecast_from_states(states, plan.steps().len(), device, Some(rows))
    }

    /// All windows primed in one pass with the plan's kernels.
    fn start_planned(&self, plan: &StreamPlan, context_blv: Tensor<3>) -> (Vec<Self::State>, Tensor<3>) {
        let b = context_blv.dims()[0];
        let kernels = plan
            .prime::<PrimeKernels>()
            .expect("start_planned: a plan made by SpaceTime::stream_plan");
        let (state, preds_blv) = self.prime_with(kernels, context_blv);
        (state.split(&vec![1; b]), preds_blv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spacetime::SpaceTimeConfig;

    fn small() -> SpaceTime {
        SpaceTimeConfig::new(24, 6)
            .with_d_model(8)
            .with_state_dim(4)
            .with_first_n_kernels(2)
            .with_first_n_heads(4)
            .with_n_kernels(8)
            .with_dropout(0.0)
            .init(&Device::flex())
    }

    fn max_abs(t: Tensor<3>) -> f32 {
        t.abs().max().into_scalar()
    }

    /// Through the common interface, the streamed state's forecast equals the batch forecast,
    /// and the state round-trips through JSON.
    #[test]
    fn step_interface_matches_batch_forecast() {
        let device = Device::flex();
        let model = small();
        let x = Tensor::<3>::random([2, 25, 3], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let context = x.clone().narrow(1, 0, 24);
        let (state, preds) = StepForecaster::start(&model, context.clone());
        assert_eq!(preds.dims(), [2, 24, 3]);
        let streamed = StepForecaster::forecast_from_state(&model, &state, 6, &device);
        let batch = Forecaster::forecast(&model, context);
        let diff = max_abs(streamed - batch);
        assert!(diff < 1e-4, "streamed vs batch forecast differ by {diff}");
        let json = serde_json::to_string(&state).unwrap();
        let restored: SpaceTimeState = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, state, "state round-trips through JSON");
    }

    /// The erased [`Stepper`] gives what the typed interface gives, and the reconstruction's
    /// rows 1.. are the streamed next-row predictions of rows ..L−1.
    #[test]
    fn erased_stepper_and_reconstruction_agree_with_the_stream() {
        let device = Device::flex();
        let model = small();
        let x = Tensor::<3>::random([1, 24, 2], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let stepper = Forecaster::stepper(&model).expect("SpaceTime steps");
        let (mut state, preds) = stepper.prime(x.clone());
        let recon = Forecaster::reconstructor(&model)
            .expect("SpaceTime reconstructs")
            .reconstruct(x.clone());
        let diff = max_abs(recon.clone().narrow(1, 1, 23) - preds.clone().narrow(1, 0, 23));
        assert!(
            diff < 1e-4,
            "reconstruction vs streamed predictions differ by {diff}"
        );
        let first = max_abs(recon.narrow(1, 0, 1) - x.clone().narrow(1, 0, 1));
        assert_eq!(first, 0.0, "row 0 is the input row itself");
        let next = stepper.advance(&mut *state, x.clone().narrow(1, 23, 1).reshape([1, 2]));
        assert_eq!(next.dims(), [1, 2]);
        let f = stepper.forecast_state(&*state, 3, &device);
        assert_eq!(f.dims(), [1, 3, 2]);
    }
}
