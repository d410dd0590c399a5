//! The interfaces every statecast model implements, so the training engine, evaluation, anomaly
//! scoring and the service treat every family alike.
//!
//! - [`Forecaster`]: look-back window in, horizon out, and the training loss. Every family.
//! - [`Reconstructor`]: the model's estimate of the look-back rows themselves (anomaly scoring
//!   compares it with what was observed). Families that have one return it from
//!   [`Forecaster::reconstructor`].
//! - [`StepForecaster`]: the recurrent form, one point at a time with an explicit state (constant
//!   work per point), for streaming. [`Stepper`] is the same interface with the state type erased,
//!   returned by [`Forecaster::stepper`], so code that holds any model (the anomaly scorer, the
//!   monitor) can run any family's recurrent form without naming the family.
//!
//! The two capability methods have no default: a new family must say whether it reconstructs and
//! whether it steps, so it cannot silently lose a scoring path.
//!
//! All tensors are on the *scaled* data (the dataset-level scaler is applied by the caller); any
//! per-window normalisation is the model's own business and is inverted inside the model.
use std::any::Any;
use std::fmt::Debug;

use burn::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

/// A batch forecaster: look-back window in, horizon out.
///
/// # Shapes
/// - `x_blv`: [batch, lookback, variates]
/// - `y_bhv`: [batch, horizon, variates]
pub trait Forecaster: Module {
    /// Look-back L the model reads.
    fn lookback(&self) -> usize;

    /// Horizon H the model forecasts.
    fn horizon(&self) -> usize;

    /// Point forecast of the next `horizon` steps, [batch, horizon, variates].
    fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3>;

    /// The training objective for one batch (a scalar, [1]). Models with auxiliary terms
    /// (SpaceTime's look-back and next-input losses) include them here.
    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1>;

    /// The model's reconstruction of its input window, or `None` for forecast-only families.
    fn reconstructor(&self) -> Option<&dyn Reconstructor>;

    /// The model's recurrent form, or `None` for families that only run on whole windows.
    fn stepper(&self) -> Option<&dyn Stepper>;
}

/// A model that estimates the rows of its own input window.
///
/// Row `t` of the reconstruction is the model's estimate of input row `t`. What the estimate may
/// see is the family's choice and is documented there: SpaceTime's is its one-step prediction
/// from rows `..t` (row 0, which nothing precedes, is the input row itself); a reconstruction
/// head may see the whole window.
///
/// # Shapes
/// - `x_blv`: [batch, lookback, variates]; reconstructions have the same shape.
pub trait Reconstructor {
    /// The reconstruction, [batch, lookback, variates].
    fn reconstruct(&self, x_blv: Tensor<3>) -> Tensor<3>;

    /// Forecast ([batch, horizon, variates]) and reconstruction from one pass where the family can
    /// (SpaceTime computes both in one forward).
    fn forecast_and_reconstruct(&self, x_blv: Tensor<3>) -> (Tensor<3>, Tensor<3>);
}

/// A forecaster that can also run one point at a time with an explicit state (O(1) work and
/// memory per point, independent of how many points came before), for streaming.
/// The state serialises, so a server can persist and restore per-series state.
///
/// # Shapes
/// - `anchor_blv`, `context_blv`: [batch, lookback, variates] (scaled)
/// - `x_bv`: [batch, variates] (scaled)
pub trait StepForecaster: Forecaster {
    /// Recurrent state of `batch × variates` series.
    type State: Clone + Serialize + DeserializeOwned + Send + Sync + Debug + BatchedState + 'static;

    /// A state that has consumed no rows yet. Families that normalise each window by its own
    /// statistics take them from `anchor_blv` (a recent window), since a running state cannot
    /// change them later; the others ignore it.
    fn fresh_state(&self, anchor_blv: Tensor<3>) -> Self::State;

    /// A state primed with a context window (fed point by point, normalisation anchored to this
    /// window), and the prediction of the next row made after each row, [batch, lookback,
    /// variates] (row `t` predicts input row `t + 1`; the last row predicts the first row after
    /// the context).
    fn start(&self, context_blv: Tensor<3>) -> (Self::State, Tensor<3>);

    /// Consume one observation per series and return the prediction of the next one, [batch, variates].
    fn step(&self, state: &mut Self::State, x_bv: Tensor<2>) -> Tensor<2>;

    /// Forecast the next `steps` rows from the state without advancing it, [batch, steps, variates].
    fn forecast_from_state(&self, state: &Self::State, steps: usize, device: &Device) -> Tensor<3>;

    /// Bytes of values the state holds (for memory accounting; constant for a given model,
    /// batch and variate count).
    fn state_bytes(&self, state: &Self::State) -> usize;

    /// [`Self::step`] for several states at once, in one forward: the states are stacked along
    /// the batch, stepped together and split back. `x_bv` holds the states' rows in order
    /// (`Σ batch` rows); so does the returned prediction. Each state ends as if stepped alone.
    fn step_many(&self, states: &mut [&mut Self::State], x_bv: Tensor<2>) -> Tensor<2> {
        step_stacked(self, states, x_bv)
    }

    /// A plan for streaming many series with this very model (its weights unchanged): what does
    /// not depend on the series is computed once here, for the forecasts of the 1-based steps
    /// `steps` (ascending, distinct; empty when no forecast is wanted) and for priming states on
    /// windows (SpaceTime: the closed-loop rows `cᵀM^h` of those steps, and every layer's kernel
    /// and state map). The default plan holds nothing.
    ///
    /// # Panics
    /// If `steps` is not ascending or holds 0.
    fn stream_plan(&self, steps: &[usize]) -> StreamPlan {
        StreamPlan::new(steps, (), ())
    }

    /// The forecasts of the plan's steps from `states`, `[Σ batch, plan.steps().len(), variates]`:
    /// those rows of [`Self::forecast_many`] up to the last planned step (the default computes
    /// them all and keeps the planned ones).
    ///
    /// # Panics
    /// If the plan has no steps.
    fn forecast_planned(&self, plan: &StreamPlan, states: &[&Self::State], device: &Device) -> Tensor<3> {
        let steps = plan.steps();
        let last = *steps.last().expect("forecast_planned: a plan without steps");
        let all = self.forecast_many(states, last, device);
        if steps.len() == last {
            return all;
        }
        let idx: Vec<i64> = steps.iter().map(|&s| s as i64 - 1).collect();
        all.select(
            1,
            Tensor::<1, Int>::from_data(TensorData::new(idx, [steps.len()]), device),
        )
    }

    /// [`Self::forecast_from_state`] for several states in one forward, [Σ batch, steps, variates].
    fn forecast_many(&self, states: &[&Self::State], steps: usize, device: &Device) -> Tensor<3> {
        if let [one] = states {
            return self.forecast_from_state(one, steps, device);
        }
        self.forecast_from_state(&Self::State::concat(states), steps, device)
    }

    /// [`Self::start`] on a batch of windows, returning one state per window (each equal to the
    /// state [`Self::start`] gives that window alone).
    fn start_each(&self, context_blv: Tensor<3>) -> (Vec<Self::State>, Tensor<3>) {
        let b = context_blv.dims()[0];
        let (state, preds_blv) = self.start(context_blv);
        (state.split(&vec![1; b]), preds_blv)
    }

    /// [`Self::start_each`] with the plan's shared work (the default ignores the plan).
    fn start_planned(&self, plan: &StreamPlan, context_blv: Tensor<3>) -> (Vec<Self::State>, Tensor<3>) {
        let _ = plan;
        self.start_each(context_blv)
    }
}

/// [`StepForecaster::step_many`] by stacking: the states are concatenated along the batch,
/// stepped together with [`StepForecaster::step`] and split back (the default; a family that can
/// step its states where they lie overrides `step_many` and falls back to this).
pub fn step_stacked<F: StepForecaster>(
    model: &F,
    states: &mut [&mut F::State],
    x_bv: Tensor<2>,
) -> Tensor<2> {
    if let [one] = states {
        return model.step(one, x_bv);
    }
    let parts: Vec<&F::State> = states.iter().map(|s| &**s).collect();
    let mut stacked = F::State::concat(&parts);
    let pred_bv = model.step(&mut stacked, x_bv);
    let batches: Vec<usize> = states.iter().map(|s| s.batch()).collect();
    let consumed = stacked.points();
    for (state, mut piece) in states.iter_mut().zip(stacked.split(&batches)) {
        piece.set_points(state.points() + consumed);
        **state = piece;
    }
    pred_bv
}

/// Work shared by every series streamed through one model ([`StepForecaster::stream_plan`]):
/// the forecasts of some steps and the priming of states on windows; opaque to the caller.
pub struct StreamPlan {
    steps: Vec<usize>,
    forecast: Box<dyn Any + Send + Sync>,
    prime: Box<dyn Any + Send + Sync>,
}

impl StreamPlan {
    /// A plan for the 1-based steps `steps` (empty: no forecasts) holding the family's shared
    /// forecast and priming work.
    ///
    /// # Panics
    /// If `steps` is not strictly ascending or holds 0.
    pub fn new<F: Any + Send + Sync, P: Any + Send + Sync>(steps: &[usize], forecast: F, prime: P) -> Self {
        assert!(
            steps.first().is_none_or(|&s| s >= 1) && steps.windows(2).all(|w| w[0] < w[1]),
            "StreamPlan: steps must be ascending 1-based horizons, got {steps:?}"
        );
        Self {
            steps: steps.to_vec(),
            forecast: Box::new(forecast),
            prime: Box::new(prime),
        }
    }

    /// The planned forecast steps (1-based, ascending; empty when none).
    pub fn steps(&self) -> &[usize] {
        &self.steps
    }

    /// The family's forecast work, if it is a `T`.
    pub fn forecast<T: Any>(&self) -> Option<&T> {
        self.forecast.downcast_ref()
    }

    /// The family's priming work, if it is a `T`.
    pub fn prime<T: Any>(&self) -> Option<&T> {
        self.prime.downcast_ref()
    }
}

impl Debug for StreamPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamPlan")
            .field("steps", &self.steps)
            .field("shared", &"…")
            .finish()
    }
}

/// A recurrent state holding a batch of series, which can be stacked with others of its kind
/// and split again, so that many series' states advance in one forward (the monitor's batched
/// stepping). Every value of a state belongs to one batch item; the counter of points consumed
/// is carried separately because stacked states may have consumed different numbers.
pub trait BatchedState: Sized {
    /// Batch items (series) held.
    fn batch(&self) -> usize;
    /// Points consumed.
    fn points(&self) -> usize;
    /// Sets the points consumed.
    fn set_points(&mut self, points: usize);
    /// One state holding every part's batch items in order (counter 0).
    ///
    /// # Panics
    /// If `parts` is empty or the parts were made for different shapes (variates, sizes).
    fn concat(parts: &[&Self]) -> Self;
    /// Splits into states of `batches[i]` items each, in order (counter copied to each).
    ///
    /// # Panics
    /// If the batches do not add up to [`Self::batch`].
    fn split(&self, batches: &[usize]) -> Vec<Self>;
}

/// A recurrent state whose type is known only to the family that made it.
pub trait StepState: Any + Debug + Send + Sync {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn StepState>;
    /// For the family to recover its own state type.
    fn as_any(&self) -> &dyn Any;
    /// For the family to recover its own state type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

// `Serialize` keeps `Box<dyn StepState>` itself out of the blanket impl, so a box is never
// mistaken for the state it holds.
impl<T: Any + Clone + Debug + Send + Sync + Serialize> StepState for T {
    fn clone_box(&self) -> Box<dyn StepState> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Clone for Box<dyn StepState> {
    fn clone(&self) -> Self {
        (**self).clone_box()
    }
}

/// [`StepForecaster`] with the state type erased, for code that holds any family. Every
/// [`StepForecaster`] is one; each method is the typed method named in its docs (the names
/// differ so that calls on a concrete model are never ambiguous).
pub trait Stepper {
    /// Look-back `L` of the model.
    fn step_lookback(&self) -> usize;

    /// [`StepForecaster::start`].
    fn prime(&self, context_blv: Tensor<3>) -> (Box<dyn StepState>, Tensor<3>);

    /// [`StepForecaster::step`].
    ///
    /// # Panics
    /// If `state` was made by another family.
    fn advance(&self, state: &mut dyn StepState, x_bv: Tensor<2>) -> Tensor<2>;

    /// [`StepForecaster::forecast_from_state`].
    ///
    /// # Panics
    /// If `state` was made by another family.
    fn forecast_state(&self, state: &dyn StepState, steps: usize, device: &Device) -> Tensor<3>;

    /// [`StepForecaster::state_bytes`].
    ///
    /// # Panics
    /// If `state` was made by another family.
    fn state_size(&self, state: &dyn StepState) -> usize;

    /// [`StepForecaster::step_many`].
    ///
    /// # Panics
    /// If a state was made by another family.
    fn advance_many(&self, states: &mut [&mut dyn StepState], x_bv: Tensor<2>) -> Tensor<2>;

    /// [`StepForecaster::forecast_many`].
    ///
    /// # Panics
    /// If a state was made by another family.
    fn forecast_many(&self, states: &[&dyn StepState], steps: usize, device: &Device) -> Tensor<3>;

    /// [`StepForecaster::stream_plan`].
    fn plan_stream(&self, steps: &[usize]) -> StreamPlan;

    /// [`StepForecaster::forecast_planned`].
    ///
    /// # Panics
    /// If a state was made by another family.
    fn forecast_many_planned(
        &self,
        plan: &StreamPlan,
        states: &[&dyn StepState],
        device: &Device,
    ) -> Tensor<3>;

    /// [`StepForecaster::start_planned`].
    fn prime_each(&self, plan: &StreamPlan, context_blv: Tensor<3>) -> (Vec<Box<dyn StepState>>, Tensor<3>);
}

const FOREIGN_STATE: &str = "Stepper: the state was made by another model family";

impl<M: StepForecaster> Stepper for M {
    fn step_lookback(&self) -> usize {
        Forecaster::lookback(self)
    }

    fn prime(&self, context_blv: Tensor<3>) -> (Box<dyn StepState>, Tensor<3>) {
        let (state, preds) = StepForecaster::start(self, context_blv);
        (Box::new(state), preds)
    }

    fn advance(&self, state: &mut dyn StepState, x_bv: Tensor<2>) -> Tensor<2> {
        let state = state
            .as_any_mut()
            .downcast_mut::<M::State>()
            .expect(FOREIGN_STATE);
        StepForecaster::step(self, state, x_bv)
    }

    fn forecast_state(&self, state: &dyn StepState, steps: usize, device: &Device) -> Tensor<3> {
        let state = state.as_any().downcast_ref::<M::State>().expect(FOREIGN_STATE);
        StepForecaster::forecast_from_state(self, state, steps, device)
    }

    fn state_size(&self, state: &dyn StepState) -> usize {
        let state = state.as_any().downcast_ref::<M::State>().expect(FOREIGN_STATE);
        StepForecaster::state_bytes(self, state)
    }

    fn advance_many(&self, states: &mut [&mut dyn StepState], x_bv: Tensor<2>) -> Tensor<2> {
        let mut typed: Vec<&mut M::State> = states
            .iter_mut()
            .map(|s| s.as_any_mut().downcast_mut::<M::State>().expect(FOREIGN_STATE))
            .collect();
        StepForecaster::step_many(self, &mut typed, x_bv)
    }

    fn forecast_many(&self, states: &[&dyn StepState], steps: usize, device: &Device) -> Tensor<3> {
        let typed: Vec<&M::State> = states
            .iter()
            .map(|s| s.as_any().downcast_ref::<M::State>().expect(FOREIGN_STATE))
            .collect();
        StepForecaster::forecast_many(self, &typed, steps, device)
    }

    fn plan_stream(&self, steps: &[usize]) -> StreamPlan {
        StepForecaster::stream_plan(self, steps)
    }

    fn forecast_many_planned(
        &self,
        plan: &StreamPlan,
        states: &[&dyn StepState],
        device: &Device,
    ) -> Tensor<3> {
        let typed: Vec<&M::State> = states
            .iter()
            .map(|s| s.as_any().downcast_ref::<M::State>().expect(FOREIGN_STATE))
            .collect();
        StepForecaster::forecast_planned(self, plan, &typed, device)
    }

    fn prime_each(&self, plan: &StreamPlan, context_blv: Tensor<3>) -> (Vec<Box<dyn StepState>>, Tensor<3>) {
        let (states, preds) = StepForecaster::start_planned(self, plan, context_blv);
        let boxed = states
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn StepState>)
            .collect();
        (boxed, preds)
    }
}
