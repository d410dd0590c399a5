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
/// memory per point), for the streaming monitor. The state serialises, so a server can persist
/// and restore per-series state.
pub trait StepForecaster: Forecaster {
    /// Per-series recurrent state.
    type State: Clone + Serialize + DeserializeOwned + Send + Sync + std::fmt::Debug;

    /// A fresh state for a series with `n_variates` variates.
    fn init_state(&self, n_variates: usize) -> Self::State;

    /// Consume one new observation `x_v` ([variates], scaled) and return the forecast for the
    /// next step, [variates].
    fn step(&self, state: &mut Self::State, x_v: &[f32]) -> Vec<f32>;

    /// Forecast the next `horizon` steps from the state without changing it, [horizon][variates].
    fn forecast_from_state(&self, state: &Self::State) -> Vec<Vec<f32>>;
}
