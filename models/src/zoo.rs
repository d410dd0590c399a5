//! The model zoo: one serialisable [`ModelConfig`] and one [`AnyModel`] for every forecaster, so
//! that training jobs, artifacts and the service handle all models through one type.
//!
//! `ModelConfig` serialises adjacently tagged, e.g.
//! `{"kind": "Linear", "config": {"lookback": 96, "horizon": 24, "subtract_last": true}}`.
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::baseline::{Linear, LinearConfig, Repeat, RepeatConfig};
use crate::forecaster::{Forecaster, StepForecaster};
use crate::spacetime::{SpaceTime, SpaceTimeConfig};

/// SpaceTime's loss weights `[forecast, look-back, next-input]` (reference `[1, 1, 1]`).
pub const SPACETIME_LOSS_WEIGHTS: [f64; 3] = [1.0, 1.0, 1.0];

impl PartialEq for ModelConfig {
    /// Equal when both serialise to the same JSON (the inner configs have no `PartialEq`).
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

/// Configuration of any statecast model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config")]
pub enum ModelConfig {
    /// SpaceTime (Zhang et al., ICLR 2023).
    SpaceTime(SpaceTimeConfig),
    /// NLinear baseline.
    Linear(LinearConfig),
    /// Repeat-last-value baseline.
    Repeat(RepeatConfig),
}

impl ModelConfig {
    /// Check the sizes before [`ModelConfig::init`] (which panics on inconsistent sizes), so a
    /// configuration from a user or a request fails with a message instead.
    ///
    /// # Errors
    /// [`crate::error::Error::InvalidConfig`] naming the first bad setting.
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |what: &'static str, reason: String| Err(crate::error::Error::invalid(what, reason));
        let (l, h) = (self.lookback(), self.horizon());
        if l == 0 || h == 0 {
            return bad(
                "model",
                format!("lookback ({l}) and horizon ({h}) must be positive"),
            );
        }
        if let Self::SpaceTime(c) = self {
            let first = c.first_n_kernels * c.first_n_heads;
            let later = c.n_kernels * c.n_heads;
            if c.d_model == 0 || c.state_dim == 0 {
                return bad("d_model", "d_model and state_dim must be positive".into());
            }
            if first == 0 || c.d_model % first != 0 {
                return bad(
                    "first_n_kernels",
                    format!(
                        "d_model {} must be a multiple of first_n_kernels {} × first_n_heads {}",
                        c.d_model, c.first_n_kernels, c.first_n_heads
                    ),
                );
            }
            if later == 0 || c.d_model % later != 0 {
                return bad(
                    "n_kernels",
                    format!(
                        "d_model {} must be a multiple of n_kernels {} × n_heads {}",
                        c.d_model, c.n_kernels, c.n_heads
                    ),
                );
            }
            if c.n_encoder_blocks == 0 {
                return bad("n_encoder_blocks", "at least one encoder block is needed".into());
            }
            if !(0.0..1.0).contains(&c.dropout) {
                return bad("dropout", format!("{} is not in [0, 1)", c.dropout));
            }
            if c.preprocess && c.min_avg_window >= c.max_avg_window {
                return bad(
                    "min_avg_window",
                    format!(
                        "min_avg_window {} must be below max_avg_window {}",
                        c.min_avg_window, c.max_avg_window
                    ),
                );
            }
        }
        Ok(())
    }

    /// The variant name (`"SpaceTime"`, `"Linear"`, `"Repeat"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SpaceTime(_) => "SpaceTime",
            Self::Linear(_) => "Linear",
            Self::Repeat(_) => "Repeat",
        }
    }

    /// Look-back `L` of the configured model.
    pub fn lookback(&self) -> usize {
        match self {
            Self::SpaceTime(c) => c.lookback,
            Self::Linear(c) => c.lookback,
            Self::Repeat(c) => c.lookback,
        }
    }

    /// Horizon `H` of the configured model.
    pub fn horizon(&self) -> usize {
        match self {
            Self::SpaceTime(c) => c.horizon,
            Self::Linear(c) => c.horizon,
            Self::Repeat(c) => c.horizon,
        }
    }

    /// Builds the model on `device` (random weights).
    ///
    /// # Panics
    /// On inconsistent sizes (see each config's `init`).
    pub fn init(&self, device: &Device) -> AnyModel {
        match self {
            Self::SpaceTime(c) => AnyModel::SpaceTime(c.init(device)),
            Self::Linear(c) => AnyModel::Linear(c.init(device)),
            Self::Repeat(c) => AnyModel::Repeat(c.init(device)),
        }
    }
}

/// Any statecast model, dispatching [`Forecaster`] to the variant. Its weights are saved under
/// the variant name (`SpaceTime.encoder.0…`), so weights of one kind never load into another.
// Models are built once and moved rarely; boxing the SpaceTime variant is not worth the
// indirection (and `#[derive(Module)]` wants the module types themselves).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AnyModel {
    /// SpaceTime.
    SpaceTime(SpaceTime),
    /// NLinear baseline.
    Linear(Linear),
    /// Repeat baseline.
    Repeat(Repeat),
}

impl AnyModel {
    /// The variant name, as [`ModelConfig::kind`].
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SpaceTime(_) => "SpaceTime",
            Self::Linear(_) => "Linear",
            Self::Repeat(_) => "Repeat",
        }
    }
}

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

    /// The three-term RMSE loss of spec §2.11 with weights [`SPACETIME_LOSS_WEIGHTS`].
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, `y_bhv`: `[B, H, V]`; returns `[1]`
    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        let out = self.forward(x_blv.clone());
        SpaceTime::loss(self, &out, x_blv, y_bhv, SPACETIME_LOSS_WEIGHTS)
    }

    /// The open-loop next-step predictions over the look-back (position `t` predicts `x_{t+1}`).
    ///
    /// # Shapes
    /// * `x_blv`: `[B, L, V]`, returns `[B, L, V]`
    fn reconstruct(&self, x_blv: Tensor<3>) -> Option<Tensor<3>> {
        Some(self.forward(x_blv).lookback_pred_blv)
    }
}

macro_rules! dispatch {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            AnyModel::SpaceTime($m) => $e,
            AnyModel::Linear($m) => $e,
            AnyModel::Repeat($m) => $e,
        }
    };
}

impl Forecaster for AnyModel {
    fn lookback(&self) -> usize {
        dispatch!(self, m => Forecaster::lookback(m))
    }

    fn horizon(&self) -> usize {
        dispatch!(self, m => Forecaster::horizon(m))
    }

    fn forecast(&self, x_blv: Tensor<3>) -> Tensor<3> {
        dispatch!(self, m => Forecaster::forecast(m, x_blv))
    }

    fn loss(&self, x_blv: Tensor<3>, y_bhv: Tensor<3>) -> Tensor<1> {
        dispatch!(self, m => Forecaster::loss(m, x_blv, y_bhv))
    }

    fn reconstruct(&self, x_blv: Tensor<3>) -> Option<Tensor<3>> {
        dispatch!(self, m => Forecaster::reconstruct(m, x_blv))
    }
}

/// SpaceTime's recurrent mode (`spacetime::step`) behind the common streaming interface.
impl StepForecaster for SpaceTime {
    type State = crate::spacetime::SpaceTimeState;

    fn start(&self, context_blv: Tensor<3>) -> Self::State {
        self.stream_lookback(context_blv).0
    }

    fn step(&self, state: &mut Self::State, x_bv: Tensor<2>) -> Tensor<2> {
        SpaceTime::step(self, x_bv, state).next_pred_bv
    }

    fn forecast_from_state(&self, state: &Self::State, device: &Device) -> Tensor<3> {
        SpaceTime::forecast_from_state(self, state, self.horizon(), device)
    }
}

#[cfg(test)]
mod step_interface_tests {
    use super::*;

    /// Through the common interface, the streamed state's forecast equals the batch forecast,
    /// and one more step equals the batch forecast of the window shifted by one point.
    #[test]
    fn step_interface_matches_batch_forecast() {
        let device = Device::flex();
        let cfg = SpaceTimeConfig::new(24, 6)
            .with_d_model(8)
            .with_state_dim(4)
            .with_first_n_kernels(2)
            .with_first_n_heads(4)
            .with_n_kernels(8)
            .with_dropout(0.0);
        let model = cfg.init(&device);
        let x = Tensor::<3>::random([2, 25, 3], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let context = x.clone().narrow(1, 0, 24);
        let state = StepForecaster::start(&model, context.clone());
        let streamed = StepForecaster::forecast_from_state(&model, &state, &device);
        let batch = Forecaster::forecast(&model, context);
        let diff: f32 = (streamed - batch).abs().max().into_scalar();
        assert!(diff < 1e-4, "streamed vs batch forecast differ by {diff}");
        let json = serde_json::to_string(&state).unwrap();
        let restored: crate::spacetime::SpaceTimeState = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, state, "state round-trips through JSON");
    }
}
