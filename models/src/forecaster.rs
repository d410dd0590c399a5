//! The one interface every statecast model implements, so the training engine, evaluation,
//! anomaly scoring and the service treat SpaceTime, SiMBA, Chimera and the baselines alike.
//!
//! All tensors are on the *scaled* data (the dataset-level scaler is applied by the caller);
//! any per-window normalisation is the model's own business and is inverted inside
//! [`Forecaster::forecast`].
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

    /// Reconstruction of the look-back window where the model has one, [batch, lookback, variates].
    fn reconstruct(&self, _x_blv: Tensor<3>) -> Option<Tensor<3>> {
        None
    }
}

/// A forecaster that can also run one point at a time with an explicit state (O(1) work and
/// memory per point, independent of how many points came before), for the streaming monitor.
/// The state serialises, so a server can persist and restore per-series state.
///
/// # Shapes
/// - `context_blv`: [batch, lookback, variates] (scaled)
/// - `x_bv`: [batch, variates] (scaled)
pub trait StepForecaster: Forecaster {
    /// Recurrent state of `batch × variates` series.
    type State: Clone + Serialize + DeserializeOwned + Send + Sync + std::fmt::Debug;

    /// A state primed with a context window (fed point by point); any per-window normalisation
    /// is anchored to this window.
    fn start(&self, context_blv: Tensor<3>) -> Self::State;

    /// Consume one observation per series and return the prediction of the next one, [batch, variates].
    fn step(&self, state: &mut Self::State, x_bv: Tensor<2>) -> Tensor<2>;

    /// Forecast the next `horizon()` steps from the state without advancing it, [batch, horizon, variates].
    fn forecast_from_state(&self, state: &Self::State, device: &Device) -> Tensor<3>;
}
